#!/usr/bin/python3
"""A minimal CRI client for tests/cri.rs: drives containerd's CRI plugin
over gRPC (Debian's python3-grpcio) with the few protobuf messages it needs
encoded here by hand, as the kubelet would send them: a pod sandbox, one
container in it, its status, and the sandbox's stop and removal.

Field numbers are those of the CRI API (k8s.io/cri-api,
pkg/apis/runtime/v1/api.proto). containerd 1.6 serves runtime.v1, tried
first, and runtime.v1alpha2, the fallback for older containerd, whose
api.proto has the same numbers in the messages compared (the sandbox
config and its parts, ImageSpec, the container's security context, the
requests and responses by id).

Usage (one call per step; each prints one JSON object on stdout):
  cri_client.py SOCKET version
  cri_client.py SOCKET image-status IMAGE
  cri_client.py SOCKET up SPEC_JSON       -> {"sandbox": ID, "container": ID}
  cri_client.py SOCKET container-status ID -> {"state": N, "pid": PID}
  cri_client.py SOCKET down SANDBOX_ID
SPEC_JSON: {"name", "namespace", "uid", "cgroup_parent", "image",
"command": [...], "log_directory", "log_path", "container"}.
Errors: a message on stderr and exit status 1 (2 for a wrong call).
"""

import json
import sys

import grpc

# NamespaceMode (api.proto).
POD, CONTAINER, NODE = 0, 1, 2
API_VERSIONS = ("runtime.v1", "runtime.v1alpha2")
TIMEOUT_SECONDS = 30


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def message(*fields):
    """Encodes (number, value) pairs: an int as a varint (wire type 0); a
    str, bytes (an encoded message) as length-delimited (wire type 2); a
    list as that field repeated; None is left out."""
    out = bytearray()
    for number, value in fields:
        values = value if isinstance(value, list) else [value]
        for v in values:
            if v is None:
                continue
            if isinstance(v, bool) or isinstance(v, int):
                out += varint(number << 3 | 0) + varint(int(v))
            else:
                data = v.encode() if isinstance(v, str) else v
                out += varint(number << 3 | 2) + varint(len(data)) + data
    return bytes(out)


def string_map(number, entries):
    """A map<string, string> field: one entry message (key 1, value 2) each."""
    return (number, [message((1, k), (2, v)) for k, v in sorted(entries.items())])


def fields_of(data):
    """Decodes one message's fields as (number, value): an int for varints,
    bytes for length-delimited; fixed-width fields are skipped."""
    out, i = [], 0

    def read_varint():
        nonlocal i
        shift = n = 0
        while True:
            byte = data[i]
            i += 1
            n |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return n

    while i < len(data):
        key = read_varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            out.append((number, read_varint()))
        elif wire == 2:
            length = read_varint()
            out.append((number, data[i:i + length]))
            i += length
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise ValueError(f"wire type {wire} in a response")
    return out


def field(data, number, default=None):
    """The last value of field `number` (proto3: the last one wins)."""
    found = [v for n, v in fields_of(data) if n == number]
    return found[-1] if found else default


class Cri:
    def __init__(self, socket):
        self.channel = grpc.insecure_channel("unix://" + socket)
        self.api = None

    def call(self, service, method, request):
        """Calls `method`; the first call settles the API version."""
        for api in [self.api] if self.api else API_VERSIONS:
            rpc = self.channel.unary_unary(f"/{api}.{service}/{method}")
            try:
                response = rpc(request, timeout=TIMEOUT_SECONDS)
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.UNIMPLEMENTED and self.api is None:
                    continue
                raise
            self.api = api
            return response
        raise RuntimeError(f"{service}/{method}: neither of {API_VERSIONS} is served")

    def runtime(self, method, request):
        return self.call("RuntimeService", method, request)

    def image(self, method, request):
        return self.call("ImageService", method, request)


def emit(result):
    """One JSON object, one line, no spaces (as tcpconnect's -j lines)."""
    print(json.dumps(result, separators=(",", ":")), flush=True)


def sandbox_config(spec):
    """PodSandboxConfig: metadata, log directory, labels as the kubelet
    sets them, and linux: the pod's cgroup parent and the host network."""
    metadata = message((1, spec["name"]), (2, spec["uid"]), (3, spec["namespace"]), (4, 0))
    namespaces = message((1, NODE), (2, CONTAINER), (3, POD))
    security = message((1, namespaces))
    linux = message((1, spec["cgroup_parent"]), (2, security))
    labels = {
        "io.kubernetes.pod.name": spec["name"],
        "io.kubernetes.pod.namespace": spec["namespace"],
        "io.kubernetes.pod.uid": spec["uid"],
    }
    return message((1, metadata), (3, spec["log_directory"]), string_map(6, labels), (8, linux))


def container_config(spec):
    """ContainerConfig: metadata, image, command, log path, linux: its
    own PID namespace on the host network (the kubelet's defaults for a
    hostNetwork pod)."""
    metadata = message((1, spec["container"]), (2, 0))
    image = message((1, spec["image"]))
    namespaces = message((1, NODE), (2, CONTAINER), (3, POD))
    security = message((3, namespaces))
    linux = message((2, security))
    labels = {
        "io.kubernetes.container.name": spec["container"],
        "io.kubernetes.pod.name": spec["name"],
        "io.kubernetes.pod.namespace": spec["namespace"],
        "io.kubernetes.pod.uid": spec["uid"],
    }
    return message(
        (1, metadata),
        (2, image),
        (3, spec["command"]),
        string_map(9, labels),
        (11, spec["log_path"]),
        (15, linux),
    )


def up(cri, spec):
    """RunPodSandbox, CreateContainer, StartContainer: the kubelet's order."""
    config = sandbox_config(spec)
    sandbox = field(cri.runtime("RunPodSandbox", message((1, config))), 1, b"").decode()
    if not sandbox:
        raise RuntimeError("RunPodSandbox returned no pod_sandbox_id")
    request = message((1, sandbox), (2, container_config(spec)), (3, config))
    container = field(cri.runtime("CreateContainer", request), 1, b"").decode()
    if not container:
        raise RuntimeError("CreateContainer returned no container_id")
    # Printed before the start, so a failing start still leaves the ids
    # for the caller's cleanup.
    emit({"sandbox": sandbox, "container": container})
    cri.runtime("StartContainer", message((1, container)))


def container_status(cri, container):
    """ContainerStatus, verbose: the state and, from info["info"] (the
    CRI plugin's JSON), the container's init process."""
    response = cri.runtime("ContainerStatus", message((1, container), (2, 1)))
    status = field(response, 1, b"")
    info = {}
    for number, entry in fields_of(response):
        if number == 2:
            info[field(entry, 1, b"").decode()] = field(entry, 2, b"").decode()
    pid = json.loads(info["info"]).get("pid") if "info" in info else None
    return {"id": field(status, 1, b"").decode(), "state": field(status, 3, 0), "pid": pid}


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    cri, command, args = Cri(argv[1]), argv[2], argv[3:]
    try:
        if command == "version":
            response = cri.runtime("Version", message((1, "v1")))
            result = {
                "api": cri.api,
                "runtime_name": field(response, 2, b"").decode(),
                "runtime_version": field(response, 3, b"").decode(),
            }
        elif command == "image-status":
            response = cri.image("ImageStatus", message((1, message((1, args[0])))))
            image = field(response, 1)
            result = {"id": field(image, 1, b"").decode() if image else None}
        elif command == "up":
            up(cri, json.loads(args[0]))
            return 0
        elif command == "container-status":
            result = container_status(cri, args[0])
        elif command == "down":
            # StopPodSandbox kills the sandbox's containers; RemovePodSandbox
            # removes them and it.
            cri.runtime("StopPodSandbox", message((1, args[0])))
            cri.runtime("RemovePodSandbox", message((1, args[0])))
            result = {"removed": args[0]}
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except grpc.RpcError as e:
        print(f"cri_client {command}: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    except (RuntimeError, ValueError, KeyError, IndexError) as e:
        print(f"cri_client {command}: {e}", file=sys.stderr)
        return 1
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
