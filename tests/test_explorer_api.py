"""The explorer's JSON API over real HTTP: answers that match the model, and refusals that leave it serving."""

import base64
import http.client
import io
import json
import socket
import threading
import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import vaekit
from vaekit.cli import main
from vaekit.estimator import as_dataset
from vaekit.explorer import ExplorerServer, LatentExplorer
from vaekit.explorer.api import MAX_ITEMS, body_cap
from vaekit.explorer.projection import MapProjection


def _serve(explorer: LatentExplorer):
    server = ExplorerServer(explorer, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def server(digits):
    vae = vaekit.VAE(hidden=(32,), latent_dim=4, epochs=2).fit(digits)
    server = _serve(LatentExplorer(vae, digits))
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def table_server():
    wine = vaekit.load_dataset("wine")
    vae = vaekit.VAE(hidden=(16,), latent_dim=3, epochs=2).fit(wine)
    server = _serve(LatentExplorer(vae, wine, max_points=100))
    yield server
    server.shutdown()
    server.server_close()


def request(server, method, path, body=None, headers=None):
    """One request on a fresh connection: (status, parsed JSON or raw bytes)."""
    host, port = server.server_address
    conn = http.client.HTTPConnection(host, port, timeout=30)
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    sent = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=body, headers={**sent, **(headers or {})})
    response = conn.getresponse()
    raw = response.read()
    conn.close()
    if response.getheader("Content-Type") == "application/json":
        return response.status, json.loads(raw)
    return response.status, raw


def post(server, name, body):
    return request(server, "POST", f"/api/{name}", body)


def still_serving(server):
    status, page = request(server, "GET", "/")
    assert status == 200 and b"vaekit explorer" in page
    status, info = request(server, "GET", "/api/info")
    assert status == 200 and info["n"] == 1797


def png(data_url):
    assert data_url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


# -- answers ---------------------------------------------------------------------------------------------
def test_info_and_map(server):
    status, info = request(server, "GET", "/api/info")
    assert status == 200
    assert (info["kind"], info["n"], info["latent_dim"], info["input_shape"]) == ("image", 1797, 4, [1, 8, 8])
    explorer = server.explorer
    scores = [s["score"] for s in info["sliders"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 4
    assert info["sliders"][0]["dim"] == int(np.argmax(explorer.dim_scores))
    assert sorted(set(info["colour_by"]["label"]["values"])) == [str(d) for d in range(10)]
    status, answer = post(server, "map", {"method": "pca"})
    coords = np.array(answer["coords"])
    assert status == 200 and coords.shape == (1797, 2) and answer["axis_labels"][0].startswith("PC1")
    centred = explorer.codes - explorer.codes.mean(0)  # PC1 carries the most variance of the codes
    assert coords[:, 0].var() == pytest.approx(np.linalg.svd(centred, compute_uv=False)[0] ** 2 / 1797, rel=1e-3)


def test_encode_index_shows_the_example_and_its_reconstruction(server, digits):
    status, answer = post(server, "encode", {"index": 7})
    assert status == 200 and answer["label"] == str(digits.labels[7])
    assert np.array_equal(png(answer["example"]), np.round(digits.x[7, 0] / 16 * 255).astype(np.uint8))
    vae = server.explorer.vae
    np.testing.assert_allclose(answer["code"], vae.transform(digits.subset([7]))[0], atol=1e-4)
    _, decoded = post(server, "decode", {"codes": [answer["code"]]})
    assert np.abs(png(decoded["items"][0]).astype(int) - png(answer["reconstruction"])).max() <= 1


def test_encode_values_places_a_new_example_on_the_map(server, digits):
    _, coords = post(server, "map", {"method": "pca"})
    status, answer = post(server, "encode", {"values": digits.x[11].tolist(), "method": "pca"})
    assert status == 200
    np.testing.assert_allclose(answer["location"], coords["coords"][11], atol=1e-3)


def test_decode_codes_and_map_points(server):
    codes = np.random.default_rng(0).normal(size=(MAX_ITEMS, 4)).round(3)
    status, answer = post(server, "decode", {"codes": codes.tolist()})
    assert status == 200 and len(answer["items"]) == MAX_ITEMS
    assert len({item for item in answer["items"]}) > 1  # different codes, different pictures
    status, answer = post(server, "decode", {"points": [[0.0, 0.0], [2.0, -1.0]], "method": "pca"})
    assert status == 200 and len(answer["items"]) == 2 and len(answer["codes"][0]) == 4


def test_neighbours_are_the_nearest_codes(server):
    codes = server.explorer.codes
    status, answer = post(server, "neighbours", {"index": 5, "k": 6})
    expected = np.argsort(np.linalg.norm(codes - codes[5], axis=1))[1:7]
    assert status == 200 and 5 not in answer["indices"] and answer["indices"] == expected.tolist()
    assert answer["distances"] == sorted(answer["distances"]) and len(answer["items"]) == 6
    status, answer = post(server, "neighbours", {"code": codes[5].tolist(), "k": 1})
    assert answer["indices"] == [5] and answer["distances"][0] == pytest.approx(0, abs=1e-6)


def test_samples_follow_seed_and_temperature(server):
    _, a = post(server, "samples", {"n": 5, "temperature": 1.0, "seed": 3})
    _, b = post(server, "samples", {"n": 5, "temperature": 1.0, "seed": 3})
    _, cold = post(server, "samples", {"n": 5, "temperature": 0.01, "seed": 3})
    _, mean = post(server, "decode", {"codes": [[0.0] * 4]})
    assert a == b and len(a["items"]) == 5
    assert all(np.abs(png(s).astype(int) - png(mean["items"][0])).max() <= 2 for s in cold["items"])


def test_tables_show_rows_and_colour_by_columns(table_server):
    status, info = request(table_server, "GET", "/api/info")
    assert info["kind"] == "table" and info["n"] == 100 and info["columns"][0] == "alcohol"
    assert info["colour_by"]["alcohol"]["type"] == "number" and "label" in info["colour_by"]
    explorer = table_server.explorer
    _, answer = post(table_server, "encode", {"index": 0})
    np.testing.assert_allclose(answer["example"], explorer.data.x[0], rtol=1e-5)
    assert len(answer["reconstruction"]) == 13
    status, answer = post(table_server, "encode", {"values": explorer.data.x[1].tolist()})
    assert status == 200 and len(answer["code"]) == 3
    far = (explorer.data.x[1] * 1e6).tolist()
    status, answer = post(table_server, "encode", {"values": far})
    assert status == 422 and "standard deviations" in answer["error"]


def test_text_and_boolean_columns_show_their_own_values_not_codes():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"size": rng.normal(size=60), "colour": rng.choice(["red", "green", "blue"], 60),
                          "ripe": rng.random(60) > 0.5})
    vae = vaekit.VAE(hidden=(8,), latent_dim=2, epochs=1).fit(frame)
    frame.loc[3, "colour"] = None  # a run trained with missing cells shows them too
    explorer = LatentExplorer(vae, as_dataset(frame, allow_missing=True), max_points=60)
    fields = explorer.info()["colour_by"]
    assert fields["size"]["type"] == "number"
    assert fields["colour"]["type"] == "category" and fields["colour"]["values"][:3] == list(frame["colour"][:3])
    assert fields["colour"]["values"][3] == "missing" and set(fields["ripe"]["values"]) == {"True", "False"}
    shown = explorer.example(0)
    assert shown["example"][1:] == [frame["colour"][0], bool(frame["ripe"][0])]
    assert shown["reconstruction"][1] in {"red", "green", "blue"} and isinstance(shown["reconstruction"][2], bool)
    assert json.dumps(explorer.decode(np.zeros((2, 2))))  # plain JSON all the way


def test_map_projection_inverts_pca_exactly_and_nonlinear_maps_at_the_data():
    rng = np.random.default_rng(1)
    codes = rng.normal(size=(50, 5))
    coords = (codes - codes.mean(0)) @ np.linalg.svd(codes - codes.mean(0))[2][:2].T
    linear = MapProjection(codes, coords, linear=True)
    np.testing.assert_allclose(linear.locations(linear.codes(coords[:7])), coords[:7], atol=1e-9)
    bent = MapProjection(codes, np.c_[np.sin(coords[:, 0]), coords[:, 1] ** 3], linear=False)
    np.testing.assert_allclose(bent.codes(np.c_[np.sin(coords[:3, 0]), coords[:3, 1] ** 3]), codes[:3])


# -- refusals ----------------------------------------------------------------------------------------------
BAD_BODIES = [
    ("encode", "{not json", 400, "not valid JSON"),
    ("encode", "[1, 2]", 400, "JSON object"),
    ("encode", '{"index": NaN}', 400, "not valid JSON"),
    ("encode", "\xff\xfe", 400, "not valid JSON"),
    ("encode", "[" * 20000 + "]" * 20000, 400, "not valid JSON"),
    ("encode", {"index": "3"}, 400, "integer"),
    ("encode", {"index": True}, 400, "integer"),
    ("encode", {"index": 1.5}, 400, "integer"),
    ("encode", {"index": -1}, 422, "between 0 and 1796"),
    ("encode", {"index": 1797}, 422, "between 0 and 1796"),
    ("encode", {"index": 10**400}, 422, "between 0 and 1796"),
    ("encode", {"index": 1, "values": [0]}, 400, "exactly one"),
    ("encode", {"index": 1, "path": "/etc/passwd"}, 400, "unknown field"),
    ("encode", {"values": [[0] * 8] * 8}, 400, "shape [1, 8, 8]"),
    ("encode", {"values": [[[17] * 8] * 8]}, 422, "[0, 16]"),
    ("encode", {"values": [[["a"] * 8] * 8]}, 400, "numbers"),
    ("decode", {"codes": [[0, 0, 0]]}, 400, "shape [m, 4]"),
    ("decode", {"codes": [[0, 0, 0, 0], [0, 0]]}, 400, "numbers"),
    ("decode", {"codes": []}, 400, "shape"),
    ("decode", {"codes": [[0.0] * 4] * (MAX_ITEMS + 1)}, 422, f"between 1 and {MAX_ITEMS} rows"),
    ("decode", {"codes": [[1e9, 0, 0, 0]]}, 422, "at most 100"),
    ("decode", '{"codes": [[1e400, 0, 0, 0]]}', 422, "finite"),  # JSON overflowing to infinity
    ("decode", {"points": [[0, 0]], "method": "isomap"}, 400, "pca, tsne, umap"),
    ("decode", {"points": [[0, 0]]}, 400, "missing field 'method'"),
    ("neighbours", {"index": 0, "k": 0}, 422, "k must be between 1"),
    ("neighbours", {"index": 0, "k": 1000}, 422, "k must be between 1"),
    ("samples", {"n": 0}, 422, "n must be between"),
    ("samples", {"n": 10**6}, 422, "n must be between"),
    ("samples", {"temperature": 0}, 422, "temperature"),
    ("samples", {"temperature": "hot"}, 400, "number"),
    ("samples", {"seed": -1}, 422, "seed"),
    ("map", {"method": ["pca"]}, 400, "method must be one of"),
    ("nothing", {}, 404, "no API endpoint"),
    ("../../etc/passwd", {}, 404, ""),
]


@pytest.mark.parametrize(("name", "body", "status", "message"), BAD_BODIES)
def test_bad_requests_are_refused_and_the_server_keeps_serving(server, name, body, status, message):
    got, answer = post(server, name, body)
    assert got == status
    assert message in answer["error"]
    still_serving(server)


def test_oversized_requests_are_refused_without_reading_them(server):
    big = json.dumps({"codes": [[0.0] * 4] * 200_000})
    assert len(big) > body_cap(server.explorer)
    status, answer = post(server, "decode", big)
    assert status == 413 and "limit" in answer["error"]
    # A client that announces a terabyte and sends nothing gets its answer at once.
    with socket.create_connection(server.server_address, timeout=10) as sock:
        started = time.monotonic()
        host = f"127.0.0.1:{server.server_address[1]}"
        sock.sendall(f"POST /api/decode HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {10**12}\r\n\r\n".encode())
        reply = sock.recv(4096).decode()
        assert reply.startswith("HTTP/1.1 413") and time.monotonic() - started < 1.5
    still_serving(server)


@pytest.mark.parametrize(("headers", "status"), [
    ({"Content-Type": "text/plain"}, 415),
    ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
    ({"Origin": "http://evil.example"}, 403),
    ({"Host": "evil.example"}, 403),
    ({"Content-Length": "-5"}, 400),
])
def test_foreign_and_malformed_posts_are_refused(server, headers, status):
    got, answer = request(server, "POST", "/api/encode", '{"index": 0}', headers)
    assert got == status and answer["error"]
    still_serving(server)


def test_a_post_without_length_is_refused(server):
    host, port = server.server_address
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.putrequest("POST", "/api/encode")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    conn.send(b"c\r\n{\"index\": 0}\r\n0\r\n\r\n")
    assert conn.getresponse().status == 411
    conn.close()
    still_serving(server)


@pytest.mark.parametrize("path", [
    "/../../../../etc/passwd", "/static/../../../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd",
    "/static/..%2f..%2f..%2fetc%2fpasswd", "//etc/passwd", "/static/", "/static/explorer.js/../../explorer.py",
    "/static/index.html", "/explorer.py", "/static/../server.py", "/%2e%2e/vaekit/explorer/server.py",
    "/static/explorer.js%00.png", "/api/", "/api/../explorer.py",
])
def test_only_packaged_assets_are_served(server, path):
    host, port = server.server_address
    with socket.create_connection((host, port), timeout=10) as sock:  # raw, so the path goes out as written
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 404")
    assert b"root:" not in reply and b"import" not in reply
    still_serving(server)


def test_assets_and_methods(server):
    status, script = request(server, "GET", "/static/explorer.js")
    assert status == 200 and b"fetch(" in script and b"http" not in script.replace(b"http://www.w3.org", b"")
    status, answer = request(server, "GET", "/api/decode")
    assert status == 405 and "POST" in answer["error"]
    status, _ = request(server, "PUT", "/")
    assert status == 501
    still_serving(server)


def test_cli_refuses_a_busy_port(server, tmp_path, capsys):
    run = tmp_path / "run"
    server.explorer.vae.save(run)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert main(["explore", str(run), "digits", "--port", str(busy.getsockname()[1]), "--quiet"]) == 1
    assert "choose another --port" in capsys.readouterr().err
    assert main(["explore", str(run), "wine", "--port", "0", "--quiet"]) == 1
    assert "trained on image examples" in capsys.readouterr().err
    assert main(["explore", str(run), "digits", "--max-points", "1", "--quiet"]) == 1
    assert "max_points must be between 2 and" in capsys.readouterr().err
