# expect: udp_request=fail
# why: resends after each timeout but never gives up: with no server it loops for ever instead of raising TimeoutError
# %% udp_request
import socket


def udp_request(addr, payload, timeout, retries):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        while True:
            s.sendto(payload, addr)
            try:
                return s.recvfrom(65535)[0]
            except socket.timeout:
                continue
