"""The whapps: call-handling services that consume the bus (callflow, registrar, ...)."""
