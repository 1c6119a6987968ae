"""The Keycloak realm that docker compose imports (deploy/keycloak/jpass-realm.json): the demo users with
their role, dealer and store as token claims, and J-PASS's page login as a public client with PKCE.

`python -m devtools.keycloak_realm > deploy/keycloak/jpass-realm.json` writes it again after a change of
devtools/demo.py; tests/platform/test_deploy_static.py checks the file is what this makes.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from devtools.demo import DEMO_USERS
from shared.identity import TOKEN_TTL_S

REALM = "jpass"
CLIENT_ID = "jpass-pages"
AUDIENCE = "jpass"
PUBLIC_BASE_URL = "http://localhost:8080"  # the gateway of docker compose
DEMO_PASSWORD = "jpass-demo"  # local demo only; the realm is never imported anywhere else
# User attributes that become claims of the same name (the claim `name` comes from display_name).
CLAIM_ATTRIBUTES = ("role", "dealer_code", "dealer_name", "store_code", "store_name", "staff_code")


def _attribute_mapper(attribute: str, claim: str) -> dict[str, Any]:
    return {
        "name": claim,
        "protocol": "openid-connect",
        "protocolMapper": "oidc-usermodel-attribute-mapper",
        "config": {
            "user.attribute": attribute,
            "claim.name": claim,
            "jsonType.label": "String",
            "access.token.claim": "true",
            "id.token.claim": "true",
            "userinfo.token.claim": "true",
            "multivalued": "false",
        },
    }


def _property_mapper(prop: str, claim: str) -> dict[str, Any]:
    mapper = _attribute_mapper(prop, claim)
    mapper["protocolMapper"] = "oidc-usermodel-property-mapper"
    return mapper


def _user_profile() -> str:
    """Keycloak's declarative user profile: our attributes are managed ones only administrators edit."""
    admin_only = {"view": ["admin"], "edit": ["admin"]}
    readable = {"view": ["admin", "user"], "edit": ["admin"]}
    standard = [
        {"name": name, "displayName": "${" + name + "}", "permissions": readable}
        for name in ("username", "email", "firstName", "lastName")
    ]
    ours = [
        {"name": a, "displayName": a, "permissions": admin_only} for a in ("display_name", *CLAIM_ATTRIBUTES)
    ]
    return json.dumps({"attributes": standard + ours, "groups": []}, ensure_ascii=False)


def _user(user: Any) -> dict[str, Any]:
    family, _, given = user.name.partition(" ")
    attributes = {"display_name": [user.name]} | {
        a: [getattr(user, a)] for a in CLAIM_ATTRIBUTES if getattr(user, a)
    }
    return {
        "username": user.user_id,
        "enabled": True,
        "emailVerified": True,
        "email": user.email,
        "firstName": given or family,
        "lastName": family,
        "attributes": attributes,
        "credentials": [{"type": "password", "value": DEMO_PASSWORD, "temporary": False}],
    }


def realm() -> dict[str, Any]:
    return {
        "realm": REALM,
        "enabled": True,
        "displayName": "J-PASS (demo)",
        "sslRequired": "external",
        "defaultSignatureAlgorithm": "RS256",
        "accessTokenLifespan": TOKEN_TTL_S,  # SPEC §9.3: at most 15 minutes
        "ssoSessionIdleTimeout": 3600,
        "ssoSessionMaxLifespan": 36000,
        "internationalizationEnabled": True,
        "supportedLocales": ["ja", "en"],
        "defaultLocale": "ja",
        "registrationAllowed": False,
        "resetPasswordAllowed": False,
        "bruteForceProtected": True,
        "clients": [
            {
                "clientId": CLIENT_ID,
                "name": "J-PASS pages",
                "enabled": True,
                "publicClient": True,
                "standardFlowEnabled": True,
                "implicitFlowEnabled": False,
                # Local tools: a token for a demo user by password (as devtools' POST /auth/token).
                "directAccessGrantsEnabled": True,
                "redirectUris": [f"{PUBLIC_BASE_URL}/login/callback"],
                "webOrigins": [PUBLIC_BASE_URL],
                "attributes": {
                    "pkce.code.challenge.method": "S256",
                    "post.logout.redirect.uris": f"{PUBLIC_BASE_URL}/login/logged-out",
                    "access.token.lifespan": str(TOKEN_TTL_S),
                },
                "fullScopeAllowed": False,
                "defaultClientScopes": ["basic"],
                "optionalClientScopes": [],
                "protocolMappers": [
                    {
                        "name": "audience",
                        "protocol": "openid-connect",
                        "protocolMapper": "oidc-audience-mapper",
                        "config": {
                            "included.custom.audience": AUDIENCE,
                            "access.token.claim": "true",
                            "id.token.claim": "false",
                        },
                    },
                    _property_mapper("username", "user_id"),
                    _property_mapper("email", "email"),
                    _attribute_mapper("display_name", "name"),
                    *(_attribute_mapper(a, a) for a in CLAIM_ATTRIBUTES),
                ],
            }
        ],
        "users": [_user(u) for u in DEMO_USERS],
        "components": {
            "org.keycloak.userprofile.UserProfileProvider": [
                {
                    "providerId": "declarative-user-profile",
                    "subComponents": {},
                    "config": {"kc.user.profile.config": [_user_profile()]},
                }
            ]
        },
    }


def render() -> str:
    return json.dumps(realm(), ensure_ascii=False, indent=2) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
