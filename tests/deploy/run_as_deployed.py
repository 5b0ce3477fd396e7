"""Starts the sigil binary exactly as each deployment starts it and probes what it names.

No container runtime works on these machines, so the Dockerfile, the Kubernetes manifests and
the systemd unit are read here and their way of starting sigil is replayed with the real
binary: the same arguments, the same environment (and nothing else), the same user (non-root),
the same working and data directories, the same ports; then every probe, port and path they
name is asked, and SIGTERM must end the process with status 0 within the stop timeout they
give. Secrets the manifests leave as placeholders are filled in as an operator would, and the
PostgreSQL host is the test's own server.

Runs as root inside private network and mount namespaces (scripts/deploy-checks): the fixed
ports of the manifests (8080, 50051, 9090) are free there whatever else runs on the machine,
and /var/lib is a private tmpfs, so /var/lib/sigil is the deployments' own path.

    run_as_deployed.py SIGIL_BINARY POSTGRES_URL
"""

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ruamel.yaml import YAML

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEK = "k" * 43  # 32 bytes in base64url, as the manifests ask for
ADMIN_SECRET = "s" * 43
DATA = "/var/lib/sigil"
# The search path and certificates a distroless image sets for every process.
IMAGE_BASE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
}


# The shared libraries gcr.io/distroless/cc-debian12 carries (glibc, libgcc, libstdc++,
# OpenSSL 3, zlib): a library the binary needs beyond these would be missing in the image.
DISTROLESS_CC_LIBRARIES = {
    "libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1",
    "ld-linux-x86-64.so.2", "libgcc_s.so.1", "libstdc++.so.6", "libssl.so.3",
    "libcrypto.so.3", "libz.so.1",
}


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


# --- reading the deployments -------------------------------------------------------------


def dockerfile_final_stage(path):
    """The instructions of the last stage, continuation lines joined."""
    text = open(path).read()
    lines = re.sub(r"\\\n", " ", text).splitlines()
    stages, current = [], None
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            current = []
            stages.append(current)
        if current is not None:
            current.append((word, rest.strip()))
    return stages[-1]


def image():
    """How the image starts sigil: argv, environment, user, working directory, ports."""
    stage = dockerfile_final_stage(os.path.join(ROOT, "Dockerfile"))
    env, ports, user, workdir, entrypoint, cmd = dict(IMAGE_BASE_ENV), [], None, "/", [], []
    for word, rest in stage:
        if word == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                env[key] = value
        elif word == "EXPOSE":
            ports += [int(port) for port in rest.split()]
        elif word == "USER":
            user = rest
        elif word == "WORKDIR":
            workdir = rest
        elif word == "ENTRYPOINT":
            entrypoint = json.loads(rest)
        elif word == "CMD":
            cmd = json.loads(rest)
    check(user and not user.startswith("0"), f"the image runs as a non-root user: {user}")
    uid, _, gid = user.partition(":")
    # `docker run -e SIGIL_ISSUER=...`, as the Dockerfile's comment shows.
    env["SIGIL_ISSUER"] = "http://localhost:8080"
    return {
        "argv": entrypoint + cmd,
        "host": "0.0.0.0",
        "env": env,
        "uid": int(uid),
        "gid": int(gid or uid),
        "cwd": workdir,
        "writable": [DATA],
        "ports": ports,
        "probes": [("http", 9090, "/readyz"), ("http", 9090, "/healthz")],
        "stop_within": 20,
    }


def yaml_documents(path):
    return [doc for doc in YAML(typ="safe").load_all(open(path)) if doc]


def kubernetes(overlay):
    """How the Kubernetes manifests (the base, or an overlay) start sigil."""
    base = os.path.join(ROOT, "deploy", "kubernetes", "base")
    config = yaml_documents(os.path.join(base, "configmap.yaml"))[0]["data"]
    secret = dict(yaml_documents(os.path.join(base, "secret.yaml"))[0]["stringData"])
    if overlay == "sqlite":
        here = os.path.join(ROOT, "deploy", "kubernetes", "sqlite")
        patch = yaml_documents(os.path.join(here, "secret.patch.yaml"))[0]
        secret.update(patch["stringData"])
        workload = yaml_documents(os.path.join(here, "statefulset.yaml"))[0]
    else:
        workload = yaml_documents(os.path.join(base, "deployment.yaml"))[0]
    check_service_ports(base, workload)
    # An operator's values for the placeholders.
    for key, value in secret.items():
        if "REPLACE_ME" in value and key != "DATABASE_URL":
            secret[key] = KEK if "ENCRYPTION" in key else ADMIN_SECRET
    pod = workload["spec"]["template"]["spec"]
    security = pod["securityContext"]
    check(security.get("runAsNonRoot") is True, "pods run as non-root")
    maps = {"configMapRef": config, "secretRef": secret}

    def start(container):
        env = dict(IMAGE_BASE_ENV)
        for source in container.get("envFrom", []):
            (kind, ref), = source.items()
            check(ref["name"] == "sigil", f"envFrom {kind} names sigil")
            env.update(maps[kind])
        for item in container.get("env", []):
            env[item["name"]] = item["value"]
        context = container["securityContext"]
        check(context.get("readOnlyRootFilesystem") is True, "read-only root filesystem")
        check(context.get("allowPrivilegeEscalation") is False, "no privilege escalation")
        check(context["capabilities"]["drop"] == ["ALL"], "every capability dropped")
        check("limits" in container["resources"], "resource limits are set")
        mounts = [mount["mountPath"] for mount in container.get("volumeMounts", [])]
        # The image's entrypoint with the container's args.
        return {
            "argv": image()["argv"][:1] + container["args"],
            "env": env,
            "uid": security["runAsUser"],
            "gid": security["runAsGroup"],
            "cwd": image()["cwd"],
            "writable": mounts,
        }

    inits = [start(init) for init in pod.get("initContainers", [])]
    (container,) = pod["containers"]
    main = start(container)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    probes = []
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        check(kind in container, f"{overlay} container has a {kind}")
        get = container[kind]["httpGet"]
        probes.append(("http", ports[get["port"]], get["path"]))
    grace = pod["terminationGracePeriodSeconds"]
    stop = parse_seconds(config["SIGIL_SHUTDOWN_DELAY"]) + parse_seconds(
        config["SIGIL_SHUTDOWN_GRACE"]
    )
    check(stop < grace, f"delay + grace ({stop}s) within terminationGracePeriodSeconds")
    main.update(ports=list(ports.values()), probes=probes, stop_within=grace, host="0.0.0.0")
    return inits, main


def check_service_ports(base, workload):
    service = yaml_documents(os.path.join(base, "service.yaml"))[0]
    names = {p["name"] for c in workload["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
    for port in service["spec"]["ports"]:
        check(port["targetPort"] in names, f"Service port {port['name']} targets a container port")
    labels = workload["spec"]["template"]["metadata"]["labels"]
    check(
        all(labels.get(k) == v for k, v in service["spec"]["selector"].items()),
        "the Service selects the pods",
    )


def parse_seconds(text):
    match = re.fullmatch(r"(\d+)s", text)
    check(match, f"a duration in seconds: {text}")
    return int(match.group(1))


def systemd(env_file):
    """How the systemd unit starts sigil (`env_file` stands for its EnvironmentFile)."""
    env, argv, cwd, stop_within = {}, None, None, None
    for line in open(os.path.join(ROOT, "deploy", "systemd", "sigil.service")):
        key, _, value = line.strip().partition("=")
        if key == "Environment":
            name, _, setting = value.partition("=")
            env[name] = setting
        elif key == "EnvironmentFile":
            for entry in open(env_file):
                entry = entry.strip()
                if entry and not entry.startswith("#"):
                    name, _, setting = entry.partition("=")
                    env.setdefault(name, setting)
        elif key == "ExecStart":
            argv = shlex.split(value)
        elif key == "WorkingDirectory":
            cwd = value
        elif key == "TimeoutStopSec":
            stop_within = parse_seconds(value)
        elif key == "DynamicUser":
            check(value == "yes", "a dynamic, unprivileged user")
    # systemd gives a DynamicUser a uid from 61184-65519 and makes StateDirectory its own.
    return {
        "argv": argv,
        "env": env,
        "uid": 61184,
        "gid": 61184,
        "cwd": cwd,
        "writable": [DATA],
        "ports": [8080, 50051, 9090],
        "host": "127.0.0.1",
        "probes": [("http", 9090, "/readyz"), ("http", 9090, "/healthz")],
        "stop_within": stop_within,
    }


# --- running one ---------------------------------------------------------------------------


def prepare_data_dir(run):
    """/var/lib/sigil as the deployment provides it: the run's own when it is writable there,
    else present (in the image) but owned by root and read-only."""
    subprocess.run(["rm", "-rf", DATA], check=True)
    os.makedirs(DATA)
    if DATA in run["writable"]:
        os.chown(DATA, run["uid"], run["gid"])
        os.chmod(DATA, 0o700)
    else:
        os.chmod(DATA, 0o555)


def launch(run):
    argv = [
        "setpriv",
        f"--reuid={run['uid']}",
        f"--regid={run['gid']}",
        "--clear-groups",
        "--no-new-privs",
        "--",
        BINARY,
    ] + run["argv"][1:]
    # The log goes to a file: a pipe nobody reads would fill and stall the server.
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        argv, env=run["env"], cwd=run["cwd"], stdout=log, stderr=subprocess.STDOUT
    )
    process.log = log
    return process


def output(process):
    process.log.seek(0)
    return process.log.read().decode(errors="replace")


def http_get(port, path, host="127.0.0.1"):
    host = "127.0.0.1" if host == "0.0.0.0" else host
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=2) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_ready(run, process):
    probe = run["probes"][0]
    for _ in range(600):
        if process.poll() is not None:
            fail(f"sigil exited early:\n{output(process)}")
        try:
            if http_get(probe[1], probe[2])[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    fail(f"{probe} never answered 200")


def listening(port):
    """The addresses (hex, as /proc/net/tcp writes them) listening on `port` here."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in open(table).readlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def probe_all(name, run):
    host = run.get("host", "127.0.0.1")
    for port in run["ports"]:
        addresses = listening(port)
        if host == "127.0.0.1":
            check(addresses == {"0100007F"}, f"{name}: :{port} on loopback only: {addresses}")
        else:
            # In a container every interface: the orchestrator connects from outside.
            check(addresses == {"00000000"}, f"{name}: :{port} on every interface: {addresses}")
    for _, port, path in run["probes"]:
        status, body = http_get(port, path, host)
        check(status == 200, f"{name}: GET :{port}{path} answered {status} {body[:200]!r}")
    for port in run["ports"]:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    http = [p for p in run["ports"] if p not in (50051, 9090)]
    for port in http:
        status, body = http_get(port, "/.well-known/openid-configuration", host)
        check(status == 200, f"{name}: discovery on :{port} answered {status}")
        issuer = json.loads(body)["issuer"]
        check(issuer == run["env"]["SIGIL_ISSUER"], f"{name}: issuer {issuer}")
        status, _ = http_get(port, "/metrics", host)
        check(status == 404, f"{name}: /metrics stays off the public port ({status})")
    status, body = http_get(9090, "/metrics", host)
    check(status == 200 and b"sigil_" in body, f"{name}: metrics on the management port")
    with grpc.insecure_channel("127.0.0.1:50051") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        check(answer.status == health_pb2.HealthCheckResponse.SERVING, f"{name}: gRPC health")


def stop(name, run, process):
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        status = process.wait(timeout=run["stop_within"])
    except subprocess.TimeoutExpired:
        process.kill()
        fail(f"{name}: still running {run['stop_within']}s after SIGTERM")
    check(status == 0, f"{name}: exit status {status} after SIGTERM:\n{output(process)}")
    print(f"ok {name}: probes answered, SIGTERM exit 0 in {time.monotonic() - started:.2f}s")


def run_to_completion(name, run):
    check_names(name, run["env"], KNOWN)
    process = launch(run)
    process.wait(timeout=60)
    check(process.returncode == 0, f"{name} exited {process.returncode}:\n{output(process)}")
    print(f"ok {name}: exit 0")


def serve(name, run):
    check_names(name, run["env"], KNOWN)
    process = launch(run)
    try:
        wait_ready(run, process)
        probe_all(name, run)
        stop(name, run, process)
    finally:
        if process.poll() is None:
            process.kill()


def check_libraries():
    dynamic = subprocess.run(["readelf", "--dynamic", BINARY], capture_output=True, text=True)
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic.stdout))
    check(needed, "readelf lists the binary's shared libraries")
    missing = needed - DISTROLESS_CC_LIBRARIES
    check(not missing, f"the runtime image lacks shared libraries the binary needs: {missing}")
    print(f"ok image: the runtime image has every library the binary needs ({len(needed)})")


def known_settings():
    """Every environment name `sigil serve` reads (from its help), and the process's own."""
    help_text = subprocess.run([BINARY, "serve", "--help"], capture_output=True, text=True)
    names = set(re.findall(r"\[env: ([A-Z0-9_]+)", help_text.stdout))
    check("SIGIL_SHUTDOWN_GRACE" in names, "serve --help names its environment variables")
    return names | set(IMAGE_BASE_ENV) | {"RUST_LOG"}


def check_names(where, names, known):
    """A misspelt setting would be ignored without a word: every name must be one sigil reads."""
    unknown = {name for name in names if name not in known}
    check(not unknown, f"{where} sets what sigil does not read: {sorted(unknown)}")


def check_compose(known):
    compose = yaml_documents(os.path.join(ROOT, "deploy", "compose.yaml"))[0]
    for name in ("migrate", "sigil"):
        check_names(f"compose service {name}", compose["services"][name].get("environment", {}), known)
    example = os.path.join(ROOT, "deploy", "env.example")
    names = [line.split("=")[0] for line in open(example) if re.match(r"[A-Z_]+=", line)]
    check_names("deploy/env.example", [n for n in names if n != "POSTGRES_PASSWORD"], known)
    sigil = compose["services"]["sigil"]
    check(sigil["depends_on"]["migrate"]["condition"] == "service_completed_successfully",
          "compose starts sigil after the migration")
    print("ok compose: every setting is one sigil reads; sigil starts after the migration")


def main():
    check_libraries()
    check_compose(KNOWN)
    # The image: SQLite in its data directory.
    run = image()
    prepare_data_dir(run)
    serve("image", run)
    check(os.path.exists(os.path.join(DATA, "sigil.db")), "the image keeps its database in /var/lib/sigil")

    # Kubernetes on PostgreSQL: the migration first, then the replica, root filesystem read-only.
    inits, run = kubernetes("base")
    for init in inits:
        init["env"]["DATABASE_URL"] = POSTGRES_URL
    run["env"]["DATABASE_URL"] = POSTGRES_URL
    prepare_data_dir(run)
    for init in inits:
        run_to_completion("kubernetes migrate", init)
    serve("kubernetes", run)

    # Kubernetes on SQLite: the StatefulSet with its volume at /var/lib/sigil.
    inits, run = kubernetes("sqlite")
    check(not inits, "the SQLite StatefulSet has no migration step of its own")
    prepare_data_dir(run)
    serve("kubernetes sqlite", run)

    # systemd: DynamicUser, StateDirectory, the settings file of the README.
    env_file = "/tmp/sigil.env"
    with open(env_file, "w") as out:
        out.write(f"SIGIL_ISSUER=http://localhost:8080\nSIGIL_KEY_ENCRYPTION_KEY={KEK}\n")
    run = systemd(env_file)
    prepare_data_dir(run)
    serve("systemd", run)


if __name__ == "__main__":
    BINARY, POSTGRES_URL = sys.argv[1], sys.argv[2]
    KNOWN = known_settings()
    main()
