"""fsim: a FreeSWITCH simulator speaking the real Event Socket and mod_xml_curl protocols.

It uses nothing of whistle-voip's own code: only the wire formats a real FreeSWITCH produces.
"""
