"""The composition root: the Flask app, its ledger, token store, blueprints and errors."""

from __future__ import annotations

import http
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, Response, abort, redirect, request, send_from_directory
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from sqlalchemy.engine import Engine

from api.config import MAX_BODY_BYTES, config_from_env
from api.jsonio import ExactJSONProvider
from api.problems import PROBLEM_MIMETYPE, Problem, register_error_handlers
from api.schemas import parameters
from api.schemas.common import Problem as ProblemSchema
from ledger.adapters.tokens import TokenStore
from ledger.config import DATABASE_URL
from ledger.domain.ccgs import ccgs
from ledger.domain.scheme import schemes
from ledger.service.application import QPLedger

API_VERSION = "1.0.0"
#: Where /docs loads Swagger UI's script and CSS from: this server, never a CDN,
#: so the page works offline and sends nothing to a third party.
SWAGGER_UI_ASSETS = "/docs/assets/"
#: The only files of the swagger-ui-bundle distribution the page needs.
SWAGGER_UI_FILES = frozenset(
    {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"}
)


class LedgerApi(Api):  # type: ignore[misc]
    """flask-smorest's Api, documenting every error response as problem+json."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_MIMETYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "A problem (RFC 9457)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_MIMETYPE)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)

    def _register_swagger_ui_rule(self, blueprint: Blueprint) -> None:
        """Serve Swagger UI's files from the installed swagger-ui-bundle; send / to the console.

        A page that loads its script from a CDN is blank offline and tells a
        third party who reads the docs (issue 9, item 11). These routes join
        flask-smorest's own docs blueprint: like /docs, they need no token.
        """
        super()._register_swagger_ui_rule(blueprint)
        blueprint.add_url_rule(
            f"{SWAGGER_UI_ASSETS}<filename>", "swagger_ui_asset", _swagger_ui_asset
        )
        blueprint.add_url_rule("/", "root", lambda: redirect("/console/", code=302))


def _swagger_ui_asset(filename: str) -> Response:
    from swagger_ui_bundle import swagger_ui_path

    if filename not in SWAGGER_UI_FILES:
        abort(404)
    response = send_from_directory(swagger_ui_path, filename, max_age=3600)
    response.headers["Cache-Control"] = "public, max-age=3600"  # not no-store: static files
    return response


def build_app(config: Mapping[str, Any] | None = None, *, ledger: QPLedger | None = None) -> Flask:
    """Build the API. ``config`` overrides the environment; ``ledger`` an already open one."""
    from api import console
    from api.views import (
        commands,
        determinations,
        erasures,
        health,
        integrity,
        records,
        reference,
        reports,
    )

    app = Flask("api")
    app.json = ExactJSONProvider(app)
    app.config.update(config_from_env())
    app.config.update(config or {})
    app.config.update(
        MAX_CONTENT_LENGTH=int(app.config[MAX_BODY_BYTES]),
        API_TITLE="QP Ledger",
        API_VERSION=API_VERSION,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=SWAGGER_UI_ASSETS,
        # No badge fetched from validator.swagger.io: nothing leaves the server.
        OPENAPI_SWAGGER_UI_CONFIG={"validatorUrl": None},
    )
    if ledger is None:
        ledger = QPLedger(app.config[DATABASE_URL])
    app.extensions["qp_ledger"] = ledger
    engine = ledger.store.datastore.engine
    assert isinstance(engine, Engine)
    app.extensions["qp_tokens"] = TokenStore(engine=engine)

    api = LedgerApi(
        app,
        spec_kwargs={
            "info": {"description": "The NHS Quality Premium audit ledger. See docs/api.md."},
        },
    )
    api.spec.components.security_scheme(
        "bearerAuth",
        {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from `qp-ledger tokens create`.",
        },
    )
    api.spec.components.schema(
        "CCGCode",
        {
            "type": "string",
            "enum": list(ccgs()),
            "description": "ODS code of a CCG of April 2013 (GET /reference/ccgs).",
        },
    )
    api.spec.components.schema(
        "SchemeId",
        {
            "type": "string",
            "enum": list(schemes()),
            "description": "A Quality Premium scheme (GET /reference/schemes).",
        },
    )
    for blueprint in (commands.blp, records.blp, determinations.blp):
        api.register_blueprint(blueprint, parameters=parameters.RECORD)
    for blueprint in (
        reference.blp,
        health.blp,
        determinations.scheme_blp,
        integrity.blp,
        reports.blp,
        erasures.blp,
    ):
        api.register_blueprint(blueprint)
    console.init_app(app)
    register_error_handlers(app)  # after Api, whose own HTTPException handler this replaces

    @app.before_request
    def refuse_oversized_bodies() -> None:
        # Content-Length is checked before anything reads the body; bodies sent
        # without one are cut off at the same limit by MAX_CONTENT_LENGTH.
        limit = app.config["MAX_CONTENT_LENGTH"]
        if request.content_length is not None and request.content_length > limit:
            raise Problem(
                413,
                "content-too-large",
                f"The body is {request.content_length} bytes; at most {limit} "
                "are accepted. Nothing was read or stored.",
            )

    @app.after_request
    def no_sniffing(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # Nothing is cached by intermediaries; documents with an ETag say otherwise.
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app
