"""The registrar whapp: SIP credentials for FreeSWITCH's challenges, and where devices are registered."""
