# expect: udp_request=fail
# why: sets the timeout but never resends: the first lost datagram ends in TimeoutError
# %% udp_request
import socket


def udp_request(addr, payload, timeout, retries):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(payload, addr)
        data, _ = s.recvfrom(65535)
        return data
