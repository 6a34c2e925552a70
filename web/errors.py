"""One table from error class to HTTP status; every error answers JSON, never a stack trace.

Views just raise. A package's errors (one base class per package, with a subclass per thing
that can go wrong) answer with their row of ``STATUS_FOR``: the status, a stable code, the
error's one-line ``message`` and its ``details``. A request that does not fit the API's own
rules (a malformed query, body or header) raises ``ApiError`` with its status and code.
tests/test_errors.py checks that every error class of the packages has its own row.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

import psycopg
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

import tiles
from accounts import errors as account_errors
from backup import errors as backup_errors
from boundaries import errors as boundary_errors
from cases import errors as case_errors
from db.cluster import ClusterError
from emergencies import errors as emergency_errors
from feeds import errors as feed_errors
from field import errors as field_errors
from ogc import errors as ogc_errors
from open311 import errors as open311_errors
from planning import errors as planning_errors
from db.migrate import SchemaOutOfDate


log = logging.getLogger(__name__)
UNAVAILABLE = "the database is not available at the moment; try again shortly"
# SQLSTATE 53100 disk_full: PostgreSQL could not extend a file (a photo is stored in the
# database, case_photos). A driver error like the others, told apart by its code (refusal_of).
DISK_FULL = "53100"
STORAGE_FULL = ("the server's storage is full: nothing of this request was saved; "
                "try again later, or without photos")


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, details=None, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.details = details
        if code:
            self.code = code
        if status:
            self.status = status


# Flask answers an error with the handler of its nearest class, so a base class's row also
# answers for a subclass that lacks one (the test says which do).
STATUS_FOR = {
    # accounts
    account_errors.AccountError: (422, "invalid_account"),
    account_errors.UnknownRole: (422, "unknown_role"),
    account_errors.UnknownScope: (422, "unknown_scope"),
    account_errors.UnknownPerson: (422, "unknown_person"),
    account_errors.InvalidName: (422, "invalid_account_name"),
    account_errors.AccountExists: (409, "account_exists"),
    account_errors.AccountNotFound: (404, "account_not_found"),
    account_errors.NotAuthenticated: (401, "not_authenticated"),
    account_errors.BadCredentials: (401, "bad_credentials"),
    account_errors.AccountLocked: (429, "account_locked"),
    account_errors.Forbidden: (403, "forbidden"),
    account_errors.OutOfScope: (403, "out_of_scope"),
    account_errors.CsrfFailed: (403, "csrf_failed"),
    account_errors.InvalidAccessReason: (422, "invalid_reason"),
    # boundaries
    boundary_errors.BoundaryError: (422, "invalid_boundaries"),
    boundary_errors.VersionNotFound: (404, "version_not_found"),
    boundary_errors.VersionsOfDifferentTowns: (422, "versions_of_different_towns"),
    boundary_errors.TownNotFound: (404, "town_not_found"),
    boundary_errors.OutsideCoverage: (404, "outside_coverage"),
    boundary_errors.UnreadableFile: (422, "unreadable_file"),
    boundary_errors.UnsupportedFormat: (422, "unsupported_format"),
    boundary_errors.UnknownLayer: (422, "unknown_layer"),
    boundary_errors.UnknownLevel: (422, "unknown_level"),
    boundary_errors.MissingField: (422, "missing_field"),
    boundary_errors.MissingCRS: (422, "missing_crs"),
    boundary_errors.BadCRS: (422, "bad_crs"),
    boundary_errors.EmptyFile: (422, "empty_file"),
    boundary_errors.RefusedFeatures: (422, "refused_features"),
    boundary_errors.InvalidOption: (422, "invalid_option"),
    # cases
    case_errors.CaseError: (422, "invalid_case"),
    case_errors.UnknownCategory: (422, "unknown_category"),
    case_errors.OutsideCoverage: (422, "outside_coverage"),
    case_errors.AddressNotFound: (422, "address_not_found"),
    case_errors.IdempotencyKeyReused: (409, "idempotency_key_reused"),
    case_errors.BoundariesChanging: (503, "boundaries_changing"),
    case_errors.InvalidPhoto: (422, "unsupported_photo"),
    case_errors.PhotoTooLarge: (413, "photo_too_large"),
    case_errors.TooManyPhotos: (422, "too_many_photos"),
    case_errors.CaseNotFound: (404, "case_not_found"),
    case_errors.PhotoNotFound: (404, "photo_not_found"),
    # a marked photo the board cannot strip of its metadata is not published: as if absent
    case_errors.UnreadableImage: (404, "photo_not_found"),
    case_errors.PersonNotFound: (404, "person_not_found"),
    case_errors.PersonOffDuty: (422, "person_off_duty"),
    case_errors.CaseClosed: (409, "case_closed"),
    case_errors.AlreadyAssigned: (409, "already_assigned"),
    case_errors.HotspotError: (422, "hotspots_unavailable"),
    case_errors.TooManyCells: (422, "too_many_cells"),
    case_errors.BulkError: (422, "invalid_point_file"),
    case_errors.TransitionError: (409, "transition_refused"),
    case_errors.UnknownAction: (422, "unknown_action"),
    case_errors.TransitionNotAllowed: (409, "transition_not_allowed"),
    case_errors.OutsideScope: (403, "outside_scope"),
    case_errors.StaleVersion: (409, "stale_version"),
    case_errors.ReasonRequired: (422, "reason_required"),
    case_errors.NoteTooLong: (422, "note_too_long"),
    case_errors.InvalidTarget: (422, "invalid_target"),
    case_errors.CaseVoided: (409, "case_voided"),
    case_errors.ReopenTooLate: (409, "reopen_too_late"),
    case_errors.ReopenNotDissatisfied: (409, "reopen_not_dissatisfied"),
    case_errors.ExtensionPending: (409, "extension_pending"),
    case_errors.NoExtensionPending: (409, "no_extension_pending"),
    case_errors.AlreadyApplied: (409, "already_applied"),
    case_errors.TransitionKeyReused: (409, "idempotency_key_reused"),
    case_errors.TakenAtInFuture: (422, "taken_at_in_future"),
    case_errors.TakenAtTooOld: (422, "taken_at_too_old"),
    case_errors.BoardWindowError: (422, "outside_public_window"),
    case_errors.RatingError: (422, "invalid_rating"),
    case_errors.RatingNotFound: (404, "rating_not_found"),
    case_errors.RatingUsed: (409, "rating_used"),
    case_errors.RatingExpired: (410, "rating_expired"),
    case_errors.RatingFormRefused: (403, "rating_form_refused"),
    case_errors.CaseAlreadyRated: (409, "case_already_rated"),
    case_errors.ScoresWindowError: (422, "invalid_window"),
    case_errors.StatsWindowError: (422, "invalid_query"),
    # field (patrol visits and compliance)
    field_errors.FieldError: (422, "invalid_visit"),
    field_errors.PositionRequired: (422, "position_required"),
    field_errors.PositionOutsideTown: (422, "position_outside_town"),
    field_errors.TargetNotFound: (404, "target_not_found"),
    field_errors.TargetOutOfScope: (403, "target_out_of_scope"),
    field_errors.VisitIdReused: (409, "visit_id_reused"),
    field_errors.InvalidPeriod: (422, "invalid_period"),
    # emergency mobilisation
    emergency_errors.EmergencyError: (422, "invalid_emergency"),
    emergency_errors.AreaInvalid: (422, "invalid_area"),
    emergency_errors.AreaEmpty: (422, "area_empty"),
    emergency_errors.AreaCoversNothing: (422, "area_covers_nothing"),
    emergency_errors.AreaNotFound: (404, "area_not_found"),
    emergency_errors.EmergencyNotFound: (404, "emergency_not_found"),
    emergency_errors.EmergencyClosed: (409, "emergency_closed"),
    emergency_errors.TaskNotFound: (404, "task_not_found"),
    emergency_errors.TaskOutOfScope: (403, "task_out_of_scope"),
    emergency_errors.TaskAlreadyConfirmed: (409, "task_already_confirmed"),
    emergency_errors.ConfirmIdReused: (409, "confirm_id_reused"),
    # backups (backup/: only the CLI raises them today; the rows keep the table whole)
    backup_errors.BackupError: (422, "backup_refused"),
    backup_errors.ArchiveExists: (409, "archive_exists"),
    backup_errors.ArchiveNotFound: (404, "archive_not_found"),
    backup_errors.ArchiveCorrupt: (422, "archive_corrupt"),
    backup_errors.ArchiveTooNew: (409, "archive_too_new"),
    backup_errors.DatabaseNotEmpty: (409, "database_not_empty"),
    backup_errors.PostgisMissing: (409, "postgis_missing"),
    backup_errors.ToolFailed: (500, "backup_tool_failed"),
    # monitoring feeds (feeds/: the signed route, the mapping, the MQTT subscriber's refusals)
    feed_errors.FeedError: (422, "invalid_feed_request"),
    feed_errors.UnknownFeed: (404, "unknown_feed"),
    feed_errors.FeedExists: (409, "feed_exists"),
    feed_errors.InvalidFeedName: (422, "invalid_feed_name"),
    feed_errors.InvalidMapping: (422, "invalid_mapping"),
    feed_errors.SignatureMissing: (401, "signature_missing"),
    feed_errors.SignatureInvalid: (401, "bad_signature"),
    feed_errors.SignatureExpired: (401, "signature_expired"),
    feed_errors.MalformedEvent: (400, "malformed_json"),
    feed_errors.InvalidEvent: (422, "invalid_event"),
    feed_errors.UnknownSensorType: (422, "unknown_sensor_type"),
    feed_errors.EventIdReused: (409, "feed_event_id_reused"),
    feed_errors.BrokerError: (503, "broker_unavailable"),
    # Open311 GeoReport v2 (web/open311.py answers these in Open311's own error format)
    open311_errors.Open311Error: (400, "open311_refused"),
    open311_errors.InvalidRequest: (400, "invalid_service_request"),
    open311_errors.MissingLocation: (400, "missing_location"),
    open311_errors.UnknownService: (404, "unknown_service"),
    open311_errors.UnknownJurisdiction: (404, "unknown_jurisdiction"),
    open311_errors.JurisdictionRequired: (400, "jurisdiction_required"),
    open311_errors.RequestNotFound: (404, "service_request_not_found"),
    open311_errors.InvalidApiKey: (403, "invalid_api_key"),
    open311_errors.UnknownFormat: (400, "unknown_format"),
    # the planner's drafts
    planning_errors.PlanningError: (422, "invalid_draft_request"),
    planning_errors.DraftNotFound: (404, "draft_not_found"),
    planning_errors.DraftClosed: (409, "draft_closed"),
    planning_errors.InvalidDraftScope: (422, "invalid_scope"),
    planning_errors.RevisionRequired: (428, "revision_required"),
    planning_errors.StaleRevision: (409, "stale_revision"),
    planning_errors.GridNotInDraft: (404, "grid_not_in_draft"),
    planning_errors.GridExists: (409, "grid_exists"),
    planning_errors.InvalidGridCode: (422, "invalid_grid_code"),
    planning_errors.InvalidGridGeometry: (422, "invalid_geometry"),
    planning_errors.InvalidGridAttributes: (422, "invalid_grid"),
    planning_errors.InvalidOperation: (422, "invalid_operation"),
    planning_errors.DraftInvalid: (422, "draft_invalid"),
    planning_errors.DraftOutdated: (409, "draft_outdated"),
    planning_errors.InvalidEffectiveTime: (422, "invalid_effective_at"),
    planning_errors.VillageNotFound: (404, "village_not_found"),
    planning_errors.InvalidProposal: (422, "invalid_proposal"),
    planning_errors.ProposalImpossible: (422, "proposal_impossible"),
    # OGC API – Features (web/ogc.py answers them as {"code", "description"})
    ogc_errors.OgcError: (400, "invalid_request"),
    ogc_errors.UnknownParameter: (400, "unknown_parameter"),
    ogc_errors.RepeatedParameter: (400, "repeated_parameter"),
    ogc_errors.InvalidBbox: (400, "invalid_bbox"),
    ogc_errors.Bbox3DNotSupported: (400, "bbox_3d_not_supported"),
    ogc_errors.InvalidDatetime: (400, "invalid_datetime"),
    ogc_errors.InvalidLimit: (400, "invalid_limit"),
    ogc_errors.InvalidOffset: (400, "invalid_offset"),
    ogc_errors.UnsupportedFormat: (400, "unsupported_format"),
    ogc_errors.NotAcceptable: (406, "not_acceptable"),
    ogc_errors.CollectionNotFound: (404, "collection_not_found"),
    ogc_errors.FeatureNotFound: (404, "feature_not_found"),
    # tiles
    tiles.TileError: (422, "invalid_tile_request"),
    tiles.UnknownLayer: (404, "unknown_layer"),
    tiles.TileOutOfRange: (404, "tile_out_of_range"),
    tiles.InvalidTileAddress: (422, "invalid_tile_address"),
    tiles.UnknownParameter: (422, "unknown_parameter"),
    tiles.InvalidFilter: (422, "invalid_filter"),
    # the database
    SchemaOutOfDate: (503, "schema_out_of_date"),
    ClusterError: (503, "database_unavailable"),
    # the database stopped, restarting or unreachable (web/unavailable.py answers pages with a
    # page, and every 503 with Retry-After): the server's connection was cut mid-statement, a
    # new one refused or "starting up", or the pool gave none within its timeout
    OperationalError: (503, "database_unavailable"),
    InterfaceError: (503, "database_unavailable"),
    PoolTimeout: (503, "database_unavailable"),
    psycopg.OperationalError: (503, "database_unavailable"),  # our own psycopg connections
    psycopg.InterfaceError: (503, "database_unavailable"),
}
# the classes a database that cannot answer raises (the rows above)
DATABASE_ERRORS = (ClusterError, OperationalError, InterfaceError, PoolTimeout,
                   psycopg.OperationalError, psycopg.InterfaceError)


def status_for(cls: type[BaseException]) -> tuple[int, str]:
    """The (status, code) of ``cls``'s nearest class in STATUS_FOR; KeyError when none."""
    for klass in cls.__mro__:
        if klass in STATUS_FOR:
            return STATUS_FOR[klass]
    raise KeyError(cls)


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a driver error (wrapped by SQLAlchemy or not); None for others."""
    return getattr(getattr(exc, "orig", exc), "sqlstate", None)


def refusal_of(exc: BaseException) -> tuple[int, str]:
    """The (status, code) ``exc`` is answered with: its row of STATUS_FOR, except a full disk,
    507 ``insufficient_storage`` (a driver error of the same class as a lost connection)."""
    if isinstance(exc, DATABASE_ERRORS) and sqlstate(exc) == DISK_FULL:
        return 507, "insufficient_storage"
    return status_for(type(exc))


def error_response(status: int, code: str, message: str, details=None):
    body = {"error": code, "message": message}
    if details is not None:
        body["details"] = details
    return jsonify(body), status


def driver_message(exc: BaseException, status: int) -> str:
    """What a client is told of an error without a message of ours (a driver's): the driver's
    text names hosts, ports, users, statements: the log has it, not the client."""
    log.warning("%s: %s", type(exc).__name__, str(exc).splitlines()[:1])
    return {503: UNAVAILABLE, 507: STORAGE_FULL}.get(status, "the request could not be completed")


def table_error(exc: Exception):
    status, code = refusal_of(exc)
    message = getattr(exc, "message", None)
    if not isinstance(message, str):
        message = driver_message(exc, status)
    return error_response(status, code, message, getattr(exc, "details", None))


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    for cls in STATUS_FOR:
        if cls not in DATABASE_ERRORS:  # web/unavailable.py answers those
            app.register_error_handler(cls, table_error)
