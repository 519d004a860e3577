"""Issue 16, the endpoint under a hostile or careless client: connections that hold descriptors without
sending a request, jobs adopted by the lock that proves who works on them (never by a reused pid), and one
claim protocol for a version the endpoint queued and the command line would take."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest

from hrnn.synth import generate_interactions, write_interactions
from tuning import arns

from local_ops import Local
from server_helpers import Server, client, send, signed, wait_for

pytestmark = pytest.mark.slow

RECIPE = "arn:aws:personalize:::recipe/aws-hrnn"
REQUEST = {"name": "hard", "recipeArn": RECIPE, "performHPO": False,
           "solutionConfig": {"algorithmHyperParameters": {"hidden_dimension": "32", "bptt": "4", "epochs": "1",
                                                           "batch_size": "16", "num_negatives": "16"}}}


def _connect(endpoint: str) -> socket.socket:
    host, port = urlsplit(endpoint).hostname, urlsplit(endpoint).port
    return socket.create_connection((host, port), timeout=10)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        while True:
            if not sock.recv(4096):
                return True
    except (TimeoutError, socket.timeout):
        return False
    except OSError:
        return True


def test_idle_and_half_sent_connections_are_capped_and_timed_out(tmp_path):
    server = Server(tmp_path / "ws", "--max-connections", "4", "--header-timeout", "1")
    try:
        idle = [_connect(server.endpoint) for _ in range(3)]
        trickle = _connect(server.endpoint)
        trickle.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the rest of its headers
        time.sleep(0.2)
        refused = _connect(server.endpoint)
        refused.settimeout(5)
        answer = refused.recv(4096)
        assert answer.startswith(b"HTTP/1.1 503") and b"connection limit" in answer
        assert all(_closed_within(s, 4) for s in (*idle, trickle))  # the header timeout let them go
        status, _, body = send(server.endpoint, signed(server.endpoint, b"{}", target="AmazonPersonalize.ListRecipes"))
        assert status == 200 and body["recipes"][0]["name"] == "aws-hrnn"  # signed clients are served again
        stalled = signed(server.endpoint, b'{"maxResults": 5}', target="AmazonPersonalize.ListRecipes")
        slow = _connect(server.endpoint)
        head = "".join(f"{k}: {v}\r\n" for k, v in stalled.headers.items())
        slow.sendall(f"POST / HTTP/1.1\r\nHost: {urlsplit(server.endpoint).netloc}\r\n{head}"
                     f"Content-Length: 17\r\n\r\n".encode() + b'{"maxR')  # and never the rest of its body
        slow.settimeout(5)
        assert slow.recv(4096).startswith(b"HTTP/1.1 408")
    finally:
        server.stop()
    log = (tmp_path / "ws-server.log").read_text()
    assert "Traceback" not in log and len(log) < 10_000


def test_a_signature_must_cover_the_operation_and_the_servers_region(tmp_path):
    server = Server(tmp_path / "ws")
    try:
        request = signed(server.endpoint, b"{}", target="AmazonPersonalize.ListRecipes")
        del request.headers["X-Amz-Target"]
        request.headers["X-Amz-Target"] = "AmazonPersonalize.DeleteSolution"  # replayed as another operation
        status, _, body = send(server.endpoint, request)
        assert status == 403 and body["__type"] == "InvalidSignatureException"
        unsigned = signed(server.endpoint, b"{}")  # signed before the target was added
        unsigned.headers["X-Amz-Target"] = "AmazonPersonalize.ListRecipes"
        status, _, body = send(server.endpoint, unsigned)
        assert status == 403 and body["__type"] == "IncompleteSignatureException" and "x-amz-target" in body["message"]
        elsewhere = signed(server.endpoint, b"{}", target="AmazonPersonalize.ListRecipes", region="eu-west-1")
        status, _, body = send(server.endpoint, elsewhere)
        assert status == 403 and "region" in body["message"]
    finally:
        server.stop()


@pytest.fixture()
def solution(tmp_path):
    data = tmp_path / "interactions.csv"
    write_interactions(generate_interactions(n_users=150, n_items=80, seed=6), data)
    ops = Local(tmp_path / "ws", max_epochs=1)
    ops("CreateSolution", **REQUEST)
    return ops, data


def test_a_version_is_adopted_by_its_lock_never_by_a_reused_pid(solution, tmp_path):
    ops, data = solution
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # holds the old pid now
    try:
        name = "hard/0badc0de"
        ops.workspace.store.create(arns.SOLUTION_VERSION, name, {
            "name": "hard-0badc0de", "solutionVersionArn": ops.workspace.store.arn(arns.SOLUTION_VERSION, name),
            "solutionArn": ops.workspace.store.arn(arns.SOLUTION, "hard"), "status": "CREATE IN_PROGRESS"},
            job={"interactions": str(data), "maxEpochs": 1, "storage": None, "origin": "endpoint",
                 "pid": stranger.pid, "host": socket.gethostname()})
        server = Server(tmp_path / "ws", "--device", "cpu", "--max-epochs", "1")
        try:
            api = client(server.endpoint)
            arn = ops.workspace.store.arn(arns.SOLUTION_VERSION, name)
            done = wait_for(lambda: api.describe_solution_version(solutionVersionArn=arn), "solutionVersion")
            assert done["status"] == "ACTIVE", done  # its lock was free: trained again, not left IN_PROGRESS
            assert stranger.poll() is None  # and the stranger was never signalled
        finally:
            server.stop()
    finally:
        stranger.kill()
        stranger.wait()


def test_the_command_line_never_takes_a_version_the_endpoint_queued(solution, tmp_path):
    ops, data = solution
    (tmp_path / "events").mkdir()
    server = Server(tmp_path / "ws", "--device", "cpu", "--max-trainings", "0", "--data-dir", str(tmp_path))
    try:
        api = client(server.endpoint)
        group = api.create_dataset_group(name="hard")["datasetGroupArn"]
        from server_helpers import INTERACTIONS_SCHEMA, ROLE_ARN

        schema = api.create_schema(name="hard", schema=INTERACTIONS_SCHEMA)["schemaArn"]
        dataset = api.create_dataset(name="hard", schemaArn=schema, datasetGroupArn=group,
                                     datasetType="Interactions")["datasetArn"]
        job = api.create_dataset_import_job(jobName="hard", datasetArn=dataset, roleArn=ROLE_ARN,
                                            dataSource={"dataLocation": str(data)})["datasetImportJobArn"]
        wait_for(lambda: api.describe_dataset_import_job(datasetImportJobArn=job), "datasetImportJob")
        solution_arn = api.create_solution(name="queued", recipeArn=RECIPE, datasetGroupArn=group,
                                           solutionConfig=REQUEST["solutionConfig"])["solutionArn"]
        queued = api.create_solution_version(solutionArn=solution_arn)["solutionVersionArn"]  # never starts here
        proc = subprocess.run([sys.executable, "-m", "tuning.cli", "create-solution-version", "--solution-arn",
                               solution_arn, "--workspace", str(tmp_path / "ws"), "--device", "cpu", "--quiet"],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 254 and "ResourceInUseException" in proc.stderr and "endpoint" in proc.stderr
        assert api.describe_solution_version(solutionVersionArn=queued)["solutionVersion"]["status"] == \
            "CREATE PENDING"
        api.stop_solution_version_creation(solutionVersionArn=queued)
        assert api.describe_solution_version(solutionVersionArn=queued)["solutionVersion"]["status"] == \
            "CREATE STOPPED"
        versions = api.list_solution_versions(solutionArn=solution_arn)["solutionVersions"]
        assert [v["solutionVersionArn"] for v in versions] == [queued]  # nothing trained twice, nothing extra
    finally:
        server.stop()
    assert "Traceback" not in (tmp_path / "ws-server.log").read_text()
