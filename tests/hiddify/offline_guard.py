"""Offline guard for the local test copy of the Hiddify panel (vpnshop tests).

Installed by start-real-hiddify.sh into the panel's virtualenv as
`_vpnshop_offline.py` plus a `_vpnshop_offline.pth` that imports it, so it runs
at the start of every Python process of that venv (CLI and granian workers)
without editing any installed file of hiddifypanel.

The panel, on first start (init_db) and later, looks up its public IP
(ident.me), picks random "fake" domains (api.ooni.io), resolves domains with
libc and dnspython, etc. On this machine only loopback is reachable, and no
public DNS look-up may be made. So:

* name resolution (getaddrinfo / gethostbyname[_ex]) only answers for IP
  literals, "localhost" and this host's own name; any other name fails at once
  with EAI_NONAME, as if it did not exist;
* a socket may connect / sendto only a loopback address, and never port 53
  (dnspython talks to nameservers directly); anything else fails at once with
  ENETUNREACH, as if the machine had no route.

The panel's code treats both as "no network" and carries on with defaults.
Set VPNSHOP_HIDDIFY_ONLINE=1 to disable the guard.
"""

import errno
import ipaddress
import os
import socket

if os.environ.get("VPNSHOP_HIDDIFY_ONLINE") != "1":
    _real_getaddrinfo = socket.getaddrinfo
    _real_gethostbyname = socket.gethostbyname
    _real_gethostbyname_ex = socket.gethostbyname_ex
    _own_names = {"localhost", "localhost.localdomain", socket.gethostname().lower()}

    def _is_local_name(host) -> bool:
        if host is None:
            return True
        if isinstance(host, bytes):
            host = host.decode("idna", "replace")
        host = str(host).strip("[]").split("%")[0].lower().rstrip(".")
        if host == "" or host in _own_names or host.endswith(".localhost"):
            return True
        try:
            ipaddress.ip_address(host)
            return True  # a literal address: no DNS look-up needed
        except ValueError:
            return False

    def _refuse_name(host):
        raise socket.gaierror(socket.EAI_NONAME, f"offline test panel: no DNS for {host!r}")

    def getaddrinfo(host, *args, **kwargs):
        if not _is_local_name(host):
            _refuse_name(host)
        return _real_getaddrinfo(host, *args, **kwargs)

    def gethostbyname(host):
        if not _is_local_name(host):
            _refuse_name(host)
        return _real_gethostbyname(host)

    def gethostbyname_ex(host):
        if not _is_local_name(host):
            _refuse_name(host)
        return _real_gethostbyname_ex(host)

    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = gethostbyname
    socket.gethostbyname_ex = gethostbyname_ex

    def _allowed(address) -> bool:
        if not isinstance(address, tuple) or len(address) < 2:
            return True  # AF_UNIX path and the like: local by nature
        host, port = address[0], address[1]
        if port == 53:
            return False
        try:
            return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
        except ValueError:
            return _is_local_name(host)

    def _unreachable(address):
        raise OSError(errno.ENETUNREACH, f"offline test panel: no route to {address!r}")

    _real_connect = socket.socket.connect
    _real_connect_ex = socket.socket.connect_ex
    _real_sendto = socket.socket.sendto

    def connect(self, address):
        if not _allowed(address):
            _unreachable(address)
        return _real_connect(self, address)

    def connect_ex(self, address):
        if not _allowed(address):
            return errno.ENETUNREACH
        return _real_connect_ex(self, address)

    def sendto(self, data, *args):
        address = args[-1] if args else None
        if address is not None and not _allowed(address):
            _unreachable(address)
        return _real_sendto(self, data, *args)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.socket.sendto = sendto
