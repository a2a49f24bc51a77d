"""The callflow whapp: JSON callflows from the account database drive live calls."""
