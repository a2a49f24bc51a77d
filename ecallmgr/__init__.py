"""ecallmgr: the only process that talks to FreeSWITCH (Event Socket and mod_xml_curl).

It turns FreeSWITCH events into bus messages and executes the call-control commands that come back,
in order, per call.
"""
