//! The `sigil.v1.Auth` service: each rpc reads its message and metadata into a domain request,
//! makes one call into the application layer (the HTTP twin's call) and renders the answer.

use std::net::IpAddr;

use tonic::{Request, Response, Status};

use super::call::{self, required};
use super::proto::auth_server::Auth;
use super::proto::{
    GetTokenRequest, IntrospectRequest, IntrospectResponse, LoginRequest, LogoutRequest,
    LogoutResponse, RefreshRequest, RegisterRequest, RegisterResponse, RevokeRequest,
    RevokeResponse, TokenResponse, UserInfoRequest, UserInfoResponse,
};
use super::{GrpcState, status};
use crate::domain::RefreshToken;
use crate::oauth::{
    self, ClientAuthentication, Grant, Introspection, IssuedTokens, TokenRequest, UserInfo,
};

/// The Auth service over the shared state.
#[derive(Clone)]
pub(super) struct AuthService(pub(super) GrpcState);

impl From<IssuedTokens> for TokenResponse {
    fn from(issued: IssuedTokens) -> Self {
        Self {
            access_token: issued.access_token,
            token_type: "Bearer".to_owned(),
            expires_in: issued.expires_in,
            scope: issued.scope.to_string(),
            refresh_token: issued
                .refresh_token
                .map(|token| token.expose().to_owned())
                .unwrap_or_default(),
            id_token: issued.id_token.unwrap_or_default(),
        }
    }
}

impl From<Introspection> for IntrospectResponse {
    fn from(answer: Introspection) -> Self {
        Self {
            active: answer.active,
            sub: answer.sub.unwrap_or_default(),
            client_id: answer.client_id.unwrap_or_default(),
            scope: answer.scope.unwrap_or_default(),
            exp: answer.exp.unwrap_or_default(),
            iat: answer.iat.unwrap_or_default(),
            iss: answer.iss.unwrap_or_default(),
            jti: answer.jti.unwrap_or_default(),
            token_type: answer.token_type.unwrap_or_default().to_owned(),
            aud: answer.aud.unwrap_or_default(),
        }
    }
}

impl From<UserInfo> for UserInfoResponse {
    fn from(info: UserInfo) -> Self {
        Self {
            sub: info.sub,
            email: info.email,
            email_verified: info.email_verified,
            name: info.name.unwrap_or_default(),
        }
    }
}

/// What a client-authenticated call about one token carries besides its own fields.
struct ClientCall {
    client: ClientAuthentication,
    /// The token of the message; `None` when empty.
    token: Option<String>,
    ip: Option<IpAddr>,
}

impl ClientCall {
    fn read<T>(
        state: &GrpcState,
        request: &Request<T>,
        (client_id, client_secret): (&str, &str),
        token: &str,
    ) -> Result<Self, Status> {
        Ok(Self {
            client: call::client(request, client_id, client_secret).map_err(status::oauth)?,
            token: call::present(token),
            ip: call::client_ip(state, request),
        })
    }
}

impl AuthService {
    /// One token request: the password, client_credentials or refresh_token grant.
    async fn issue<T>(
        &self,
        request: &Request<T>,
        (client_id, client_secret): (&str, &str),
        grant: Grant,
    ) -> Result<TokenResponse, Status> {
        let state = &self.0;
        let request = TokenRequest {
            client: call::client(request, client_id, client_secret).map_err(status::oauth)?,
            grant,
            client_ip: call::client_ip(state, request),
        };
        let issued = state.sigil.tokens.issue(request, state.clock.now()).await;
        issued.map(TokenResponse::from).map_err(status::oauth)
    }
}

#[tonic::async_trait]
impl Auth for AuthService {
    async fn register(
        &self,
        request: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        let state = &self.0;
        state
            .observe("Register", async {
                let ip = call::client_ip(state, &request);
                let message = request.into_inner();
                let accounts = &state.sigil.accounts;
                let now = state.clock.now();
                let user = accounts
                    .register(&message.email, message.password.into(), ip, now)
                    .await
                    .map_err(status::oauth)?;
                Ok(RegisterResponse {
                    user_id: user.id.into(),
                })
            })
            .await
    }

    async fn login(
        &self,
        request: Request<LoginRequest>,
    ) -> Result<Response<TokenResponse>, Status> {
        self.0
            .observe("Login", async {
                let message = request.get_ref();
                let grant = Grant::Password {
                    username: required(message.email.clone(), "email is required")
                        .map_err(status::oauth)?,
                    password: required(message.password.clone(), "password is required")
                        .map_err(status::oauth)?
                        .into(),
                    scope: oauth::requested_scope(Some(&message.scope)).map_err(status::oauth)?,
                };
                let client = (message.client_id.as_str(), message.client_secret.as_str());
                self.issue(&request, client, grant).await
            })
            .await
    }

    async fn get_token(
        &self,
        request: Request<GetTokenRequest>,
    ) -> Result<Response<TokenResponse>, Status> {
        self.0
            .observe("GetToken", async {
                let message = request.get_ref();
                let scope = oauth::requested_scope(Some(&message.scope)).map_err(status::oauth)?;
                let client = (message.client_id.as_str(), message.client_secret.as_str());
                self.issue(&request, client, Grant::ClientCredentials { scope })
                    .await
            })
            .await
    }

    async fn refresh(
        &self,
        request: Request<RefreshRequest>,
    ) -> Result<Response<TokenResponse>, Status> {
        self.0
            .observe("Refresh", async {
                let message = request.get_ref();
                let token = required(message.refresh_token.clone(), "refresh_token is required")
                    .map_err(status::oauth)?;
                let grant = Grant::RefreshToken {
                    refresh_token: RefreshToken::presented(token),
                    scope: oauth::requested_scope(Some(&message.scope)).map_err(status::oauth)?,
                };
                let client = (message.client_id.as_str(), message.client_secret.as_str());
                self.issue(&request, client, grant).await
            })
            .await
    }

    async fn logout(
        &self,
        request: Request<LogoutRequest>,
    ) -> Result<Response<LogoutResponse>, Status> {
        let state = &self.0;
        state
            .observe("Logout", async {
                let message = request.get_ref();
                let client = (message.client_id.as_str(), message.client_secret.as_str());
                let call = ClientCall::read(state, &request, client, &message.refresh_token)?;
                let (token, all) = (call.token.as_deref(), message.all);
                let tokens = &state.sigil.tokens;
                tokens
                    .logout(&call.client, token, all, call.ip, state.clock.now())
                    .await
                    .map_err(status::oauth)?;
                Ok(LogoutResponse {})
            })
            .await
    }

    async fn revoke(
        &self,
        request: Request<RevokeRequest>,
    ) -> Result<Response<RevokeResponse>, Status> {
        let state = &self.0;
        state
            .observe("Revoke", async {
                let message = request.get_ref();
                let client = (message.client_id.as_str(), message.client_secret.as_str());
                let call = ClientCall::read(state, &request, client, &message.token)?;
                let tokens = &state.sigil.tokens;
                tokens
                    .revoke(
                        &call.client,
                        call.token.as_deref(),
                        call.ip,
                        state.clock.now(),
                    )
                    .await
                    .map_err(status::oauth)?;
                Ok(RevokeResponse {})
            })
            .await
    }

    async fn introspect(
        &self,
        request: Request<IntrospectRequest>,
    ) -> Result<Response<IntrospectResponse>, Status> {
        let state = &self.0;
        state
            .observe("Introspect", async {
                let message = request.get_ref();
                let client = (message.client_id.as_str(), message.client_secret.as_str());
                let call = ClientCall::read(state, &request, client, &message.token)?;
                let tokens = &state.sigil.tokens;
                let answer = tokens
                    .introspect(&call.client, call.token.as_deref(), state.clock.now())
                    .await
                    .map_err(status::oauth)?;
                Ok(IntrospectResponse::from(answer))
            })
            .await
    }

    async fn user_info(
        &self,
        request: Request<UserInfoRequest>,
    ) -> Result<Response<UserInfoResponse>, Status> {
        let state = &self.0;
        state
            .observe("UserInfo", async {
                let tokens = &state.sigil.tokens;
                let now = state.clock.now();
                let bearer = call::bearer(&request).ok_or_else(status::invalid_token)?;
                let token = tokens
                    .verify_access_token(bearer, now)
                    .map_err(|_| status::invalid_token())?;
                let info = tokens.userinfo(&token, now).await.map_err(status::oauth)?;
                info.map(UserInfoResponse::from)
                    .ok_or_else(status::invalid_token)
            })
            .await
    }
}
