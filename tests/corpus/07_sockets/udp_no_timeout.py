# expect: udp_request=fail
# why: one sendto and a blocking recvfrom, no timeout, no retry: a lost datagram means waiting for ever
# %% udp_request
import socket


def udp_request(addr, payload, timeout, retries):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(payload, addr)
    data, server = s.recvfrom(65535)
    s.close()
    return data
