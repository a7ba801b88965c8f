"""A real Dask cluster with TLS: ``dask scheduler`` and two ``dask worker`` processes, as an instructor starts them.

Certificates are made for the test (a CA, and a certificate for the scheduler, the workers and
the client). Each worker runs in its own temporary folder; where the test runs as root, the
folder that holds the course is also covered by an empty tmpfs in the worker's own mount
namespace, so a worker cannot read the course even by its absolute path. ``mpcourse-grade
--scheduler tls://...`` must end with the gradebook of a sequential ``nbgrader autograde``;
then again with one worker killed (its whole process tree, as if its machine died) while it
grades a submission. Everything started is stopped by pid; nothing tagged by the test survives.
"""
from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
from course import (
    FAST_GRADING, RUN_MARKER, corpus, environment, gradebook_dump, make_course, nbgrader, submit,
    surviving_processes,
)

ASSIGNMENT = "01_processes"
STUDENTS = ("reference", "run_instead_of_start", "start_join_in_loop")
DASK = str(Path(sys.executable).with_name("dask"))

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process trees and mount namespaces")


# ----------------------------------------------------------------------------------
# certificates

def make_certificates(folder: Path, roles: tuple[str, ...] = ("scheduler", "worker", "client"),
                      ca_name: str = "mpcourse test CA") -> dict[str, Path]:
    """{"ca": ca.pem, "<role>": <role>.pem, "<role>-key": <role>.key}: a CA and one certificate per role."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name)])

    def builder(subject: x509.Name, public_key) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1)))

    ca = (builder(issuer, ca_key.public_key())
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    files = {"ca": folder / "ca.pem"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for role in roles:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"dask {role}")]), key.public_key())
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                            x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                               critical=False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        files[role] = folder / f"{role}.pem"
        files[role].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        files[f"{role}-key"] = folder / f"{role}.key"
        files[f"{role}-key"].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
        files[f"{role}-key"].chmod(0o600)
    return files


# ----------------------------------------------------------------------------------
# the cluster's processes

@dataclass
class Node:
    name: str
    process: subprocess.Popen
    folder: Path
    log: Path

    def scratch(self) -> list[Path]:
        """The submissions this worker is grading now: mpcourse-grade's scratch courses in its Dask folder."""
        return sorted(p for p in self.folder.glob("dask/*/*/mpcourse-grade-*") if (p / "submitted").is_dir())


@dataclass
class Cluster:
    address: str
    certificates: dict[str, Path]
    scheduler: Node
    workers: list[Node]
    marker: str
    hidden: bool
    started: list[subprocess.Popen] = field(default_factory=list)

    def tls_args(self, role: str = "client") -> list[str]:
        c = self.certificates
        return ["--tls-ca-file", str(c["ca"]), "--tls-cert", str(c[role]), "--tls-key", str(c[f"{role}-key"])]


def kill_tree(pid: int) -> None:
    """Freeze the whole process tree (so it starts nothing new), then SIGKILL it: a machine lost at once."""
    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    frozen: dict[int, psutil.Process] = {}
    while True:
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        new = [p for p in tree if p.pid not in frozen]
        if not new:
            break
        for proc in new:
            try:
                proc.suspend()
            except psutil.Error:
                pass
            frozen[proc.pid] = proc
    for proc in frozen.values():
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(list(frozen.values()), timeout=15)


def _hide(folder: Path, args: list[str]) -> tuple[list[str], bool]:
    """``args`` in a mount namespace of its own where ``folder`` is an empty tmpfs (root only)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return args, False
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
            'mount -t tmpfs -o size=1m,mode=0700 hidden "$0" && exec "$@"', str(folder), *args], True


def _start(args: list[str], name: str, folder: Path, env: dict[str, str]) -> Node:
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"{name}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(args, cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    return Node(name, process, folder, log)


def _wait_for(what: str, ready, nodes: list[Node], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        for node in nodes:
            if node.process.poll() is not None:
                pytest.fail(f"{node.name} exited ({node.process.returncode}):\n{node.log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not ready in {timeout:.0f} s:\n" + "\n".join(n.log.read_text()[-1500:] for n in nodes))
        time.sleep(0.2)


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    """A TLS scheduler and two workers on 127.0.0.1, each worker in a folder of its own, blind to tmp_path."""
    for key, value in FAST_GRADING.items():
        monkeypatch.setenv(key, value)
    base = Path(tempfile.mkdtemp(prefix="mpc-cl-"))          # outside tmp_path: tmp_path is hidden from workers
    marker = uuid.uuid4().hex
    env = {**environment(), RUN_MARKER: marker}
    nodes: list[Node] = []
    try:
        certificates = make_certificates(base / "certificates")
        scheduler_file = base / "scheduler" / "scheduler.json"
        scheduler = _start([DASK, "scheduler", "--protocol", "tls", "--host", "127.0.0.1", "--port", "0",
                            "--no-dashboard", "--scheduler-file", str(scheduler_file),
                            "--tls-ca-file", str(certificates["ca"]), "--tls-cert", str(certificates["scheduler"]),
                            "--tls-key", str(certificates["scheduler-key"])],
                           "scheduler", base / "scheduler", env)
        nodes.append(scheduler)
        _wait_for("the scheduler", scheduler_file.exists, nodes)
        time.sleep(0.2)                                          # the file is written at once, not atomically
        address = json.loads(scheduler_file.read_text())["address"]
        workers, hidden = [], False
        for name in ("worker-a", "worker-b"):
            folder = base / name
            (folder / "tmp").mkdir(parents=True)
            args, hidden = _hide(tmp_path, [
                DASK, "worker", address, "--name", name, "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                "--local-directory", str(folder / "dask"), "--death-timeout", "60",
                "--tls-ca-file", str(certificates["ca"]), "--tls-cert", str(certificates["worker"]),
                "--tls-key", str(certificates["worker-key"])])
            workers.append(_start(args, name, folder, {**env, "TMPDIR": str(folder / "tmp")}))
            nodes.append(workers[-1])
        _wait_for("two workers", lambda: all("Registered to" in w.log.read_text() for w in workers), nodes)
        yield Cluster(address, certificates, scheduler, workers, marker, hidden)
    finally:
        for node in reversed(nodes):
            kill_tree(node.process.pid)
            node.process.wait(timeout=30)
        left = surviving_processes(marker)
        for line in left:
            kill_tree(int(line.split(":")[0]))
        shutil.rmtree(base, ignore_errors=True)
        assert not left, f"processes of the cluster survived: {left}"


def _grade(course: Path, cluster: Cluster, tls_from: str = "options", *extra: str) -> subprocess.Popen:
    """mpcourse-grade on the cluster, its TLS files given as options or in Dask's configuration (environment)."""
    args = [sys.executable, "-m", "mpcourse.parallel", ASSIGNMENT, "--course", str(course),
            "--scheduler", cluster.address, "--force", "--quiet", *extra]
    env = environment()
    if tls_from == "options":
        args += cluster.tls_args()
    else:
        c = cluster.certificates
        env.update({"DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(c["ca"]),
                    "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(c["client"]),
                    "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": str(c["client-key"])})
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _probe(tmp_path: Path, course: Path, cluster: Cluster) -> None:
    """Workers cannot see the course; strangers (another CA's certificate, plain TCP) are refused clearly."""
    from distributed import Client
    from distributed.security import Security

    certificates = cluster.certificates
    with Client(cluster.address, security=Security(
            tls_ca_file=str(certificates["ca"]), tls_client_cert=str(certificates["client"]),
            tls_client_key=str(certificates["client-key"]), require_encryption=True)) as client:
        views = client.run(os.path.exists, str(course / "nbgrader_config.py"))
    assert len(views) == 2
    if cluster.hidden:
        assert not any(views.values()), views        # everything they need travels by value

    stranger = make_certificates(tmp_path / "stranger", roles=("client",), ca_name="another CA")
    quick = {**environment(), "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "3s"}
    attempts = {}
    for address, args in ((cluster.address, ["--tls-ca-file", str(stranger["ca"]), "--tls-cert",
                                              str(stranger["client"]), "--tls-key", str(stranger["client-key"])]),
                          (cluster.address.replace("tls://", "tcp://"), ["--insecure"])):
        attempts[address] = subprocess.Popen([sys.executable, "-m", "mpcourse.parallel", ASSIGNMENT, "--course",
                                              str(course), "--scheduler", address, "--quiet", *args],
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=quick)
    for address, attempt in attempts.items():
        _, err = attempt.communicate(timeout=600)         # seconds when idle; a guard against a hang
        assert attempt.returncode == 1, err[-2000:]
        assert f"cannot connect to the Dask scheduler at {address}" in err, err[-2000:]
        assert "Traceback" not in err
    assert not (course / "autograded").exists()


def test_a_tls_cluster_grades_like_nbgrader_even_when_a_worker_dies(tmp_path, cluster):
    students = [s for s in corpus(ASSIGNMENT) if s.id in STUDENTS]
    (tmp_path / "sequential").mkdir()
    sequential = make_course(tmp_path / "sequential", [ASSIGNMENT])
    course = shutil.copytree(sequential, tmp_path / "cluster" / "course")
    for where in (sequential, course):
        submit(where, ASSIGNMENT, students)
    with ThreadPoolExecutor(1) as pool:           # the sequential baseline grades meanwhile
        baseline = pool.submit(nbgrader, sequential, "autograde", ASSIGNMENT, "--force", timeout=900)
        _probe(tmp_path, course, cluster)
        # the whole class on the cluster (TLS files from Dask's configuration)
        run = _grade(course, cluster, tls_from="config")
        out, err = run.communicate(timeout=900)
        baseline.result()
    expected = gradebook_dump(sequential, ASSIGNMENT)
    assert sorted(expected) == sorted(STUDENTS)
    assert run.returncode == 0, err[-3000:]
    assert f"on {cluster.address} (2 worker(s))" in err
    assert gradebook_dump(course, ASSIGNMENT) == expected

    # again (TLS files as options), and one worker dies (all its processes at once) while it grades a submission
    run = _grade(course, cluster, tls_from="options")
    victim, victim_student, finished, seen = None, None, 0, {w.name: set() for w in cluster.workers}
    deadline = time.monotonic() + 900
    while run.poll() is None and victim is None and time.monotonic() < deadline:
        for worker in cluster.workers:
            now = set(worker.scratch())
            finished += len(seen[worker.name] - now)
            seen[worker.name] = now
        busy = [w for w in cluster.workers if seen[w.name]]
        if finished and busy:
            victim = busy[0]
            students_there = list((next(iter(seen[victim.name])) / "submitted").iterdir())
            victim_student = students_there[0].name if students_there else "?"
            kill_tree(victim.process.pid)
            victim.process.wait(timeout=30)
        time.sleep(0.1)
    out, err = run.communicate(timeout=900)
    assert victim is not None, f"the run ended before a worker was seen grading after a first submission:\n{err}"
    assert run.returncode == 0, f"{victim.name} was killed grading {victim_student}:\n{err[-3000:]}"
    assert victim_student in STUDENTS
    survivor = next(w for w in cluster.workers if w is not victim)
    assert survivor.process.poll() is None
    assert gradebook_dump(course, ASSIGNMENT) == expected, f"{victim.name} was killed grading {victim_student}"
    assert not psutil.pid_exists(victim.process.pid)             # gone: killed, not stopped

    # never a hang: the last worker dies mid-run, then a run starts with no worker at all
    run = _grade(course, cluster, "options", "--worker-wait", "3")
    _wait_for("the last worker to grade", survivor.scratch, [survivor], timeout=300)
    kill_tree(survivor.process.pid)
    survivor.process.wait(timeout=30)
    out, err = run.communicate(timeout=300)
    assert run.returncode == 1, err[-3000:]
    assert err.count("NOT GRADED: no Dask worker left for 3 s") == len(STUDENTS), err[-3000:]
    run = _grade(course, cluster, "options", "--worker-wait", "2")
    out, err = run.communicate(timeout=300)
    assert run.returncode == 1 and f"the scheduler at {cluster.address} has no worker (waited 2 s)" in err, err
    assert "Traceback" not in err
