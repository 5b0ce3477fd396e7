"""The gRPC contract from another implementation: Python's grpcio (gRPC C-core) with stubs
generated here from proto/ by grpcio-tools, against a running sigil. Every rpc is called once,
an error is checked for its status code and `x-oauth-error` trailer, and grpcio-reflection and
grpcio-health-checking read the server's reflection (v1alpha, as their clients ask) and health.

Usage: grpc_client.py GRPC_ADDRESS (host:port); SIGIL_URL, SIGIL_ADMIN_CLIENT_ID and
SIGIL_ADMIN_CLIENT_SECRET in the environment (scripts/conformance sets them).
"""
import base64
import json
import os
import secrets
import sys
import tempfile
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from grpc_tools import protoc

address = sys.argv[1]
out = tempfile.mkdtemp()
if protoc.main(["protoc", "-Iproto", f"--python_out={out}", f"--grpc_python_out={out}",
                "sigil/v1/auth.proto"]) != 0:
    sys.exit("protoc failed on proto/sigil/v1/auth.proto")
sys.path.insert(0, out)
from sigil.v1 import auth_pb2, auth_pb2_grpc  # noqa: E402  (generated just above)

channel = grpc.insecure_channel(address)
auth = auth_pb2_grpc.AuthStub(channel)


def basic(client_id, secret):
    raw = f"{client_id}:{secret}".encode()
    return [("authorization", "Basic " + base64.b64encode(raw).decode())]


def fails(call, code, oauth_error):
    try:
        call()
    except grpc.RpcError as error:
        trailers = dict(error.trailing_metadata() or ())
        assert error.code() == code, (error.code(), error.details())
        assert trailers.get("x-oauth-error") == oauth_error, trailers
        return error
    raise AssertionError(f"expected {code}")


admin_id, admin_secret = os.environ["SIGIL_ADMIN_CLIENT_ID"], os.environ["SIGIL_ADMIN_CLIENT_SECRET"]
admin = auth.GetToken(auth_pb2.GetTokenRequest(scope="admin"), metadata=basic(admin_id, admin_secret))
assert admin.token_type == "Bearer" and admin.access_token.count(".") == 2, admin
fails(lambda: auth.GetToken(auth_pb2.GetTokenRequest(client_id=admin_id, client_secret="wrong")),
      grpc.StatusCode.UNAUTHENTICATED, "invalid_client")

# A dashboard client, made over HTTP with the admin token from gRPC.
request = urllib.request.Request(
    os.environ["SIGIL_URL"] + "/admin/clients", method="POST",
    data=json.dumps({"name": "grpc interop", "grant_types": ["password", "refresh_token"],
                     "scope": "openid profile", "public": True}).encode(),
    headers={"content-type": "application/json", "authorization": "Bearer " + admin.access_token})
dashboard = json.load(urllib.request.urlopen(request))["client_id"]

email, password = f"interop-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(16)
user = auth.Register(auth_pb2.RegisterRequest(email=email, password=password))
fails(lambda: auth.Register(auth_pb2.RegisterRequest(email=email, password=password)),
      grpc.StatusCode.ALREADY_EXISTS, "user_already_exists")
login = auth.Login(auth_pb2.LoginRequest(email=email, password=password, client_id=dashboard,
                                         scope="openid"))
assert login.refresh_token and login.id_token, login
fails(lambda: auth.Login(auth_pb2.LoginRequest(email=email, password="not " + password,
                                               client_id=dashboard)),
      grpc.StatusCode.UNAUTHENTICATED, "invalid_grant")
info = auth.UserInfo(auth_pb2.UserInfoRequest(),
                     metadata=[("authorization", "Bearer " + login.access_token)])
assert (info.sub, info.email) == (user.user_id, email), info
refreshed = auth.Refresh(auth_pb2.RefreshRequest(refresh_token=login.refresh_token,
                                                 client_id=dashboard))
fails(lambda: auth.Refresh(auth_pb2.RefreshRequest(refresh_token=login.refresh_token,
                                                   client_id=dashboard)),
      grpc.StatusCode.UNAUTHENTICATED, "invalid_grant")
seen = auth.Introspect(auth_pb2.IntrospectRequest(token=admin.access_token),
                       metadata=basic(admin_id, admin_secret))
assert seen.active and seen.sub == admin_id, seen
auth.Revoke(auth_pb2.RevokeRequest(token="no-such-token", client_id=dashboard))
auth.Logout(auth_pb2.LogoutRequest(refresh_token=refreshed.refresh_token, client_id=dashboard))

services = ProtoReflectionDescriptorDatabase(channel).get_services()
assert "sigil.v1.Auth" in services, services
health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="sigil.v1.Auth"))
assert health.status == health_pb2.HealthCheckResponse.SERVING, health
print(f"grpc interop: every rpc answered a grpcio client; reflection lists {sorted(services)}")
