"""JSON API of identity authentication (``/api/v1/identity``) and ``install(app)`` for the composition root."""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.orm import Session

from zhengwu.audit.reads import count_reads_of, reads_of
from zhengwu.identity import certlogin, counter, mfa, realname, registration, reset, service
from zhengwu.identity.audit import events_for_account
from zhengwu.identity.deps import (
    Authenticated,
    RequiredSession,
    clear_session_cookie,
    cookie_name,
    request_meta,
    require_level,
    set_session_cookie,
)
from zhengwu.identity.errors import AccountNotFound, MfaRequired, NotAuthenticated, SessionExpired
from zhengwu.identity.levels import RealNameLevel
from zhengwu.identity.models import Account, UserSession
from zhengwu.identity.notifier import Notifier
from zhengwu.identity.policy import StaffPrincipal, guard, own_second_factor
from zhengwu.identity.protection import decrypt_field, mask_id, mask_phone
from zhengwu.identity.rights import COUNTER_VERIFY
from zhengwu.identity.schemas import (
    Accepted,
    AccountRead,
    ActingForRequest,
    AuthEventRead,
    CertificateAuthentication,
    CertificateChallenge,
    CodeRequest,
    CounterVerification,
    EnrolmentRead,
    ForgotRequest,
    LegalRegistration,
    LoginRequest,
    LoginResult,
    MeRead,
    NaturalRegistration,
    PasswordChange,
    PersonalDataReadRead,
    RecoveryCodes,
    ResetRequest,
    SessionRead,
    StepUpRequest,
)
from zhengwu.identity.servicekeys import NOTIFIER, REAL_NAME_VERIFIER
from zhengwu.identity.web import end_read_phase, keeping_audit, require_json, retrying_when_busy
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import read_only_transactions
from zhengwu.kernel.errors import ValidationFailed
from zhengwu.kernel.http import PageParams, page_params, set_page_headers
from zhengwu.kernel.idempotency import Idempotency
from zhengwu.kernel.limits import MAX_DB_BIGINT
from zhengwu.kernel.node import node_of
from zhengwu.kernel.openapi import errors
from zhengwu.kernel.ratelimit import per_address
from zhengwu.kernel.session import DbSession
from zhengwu.pki.login_trust import LoginCertificateTrust

router = APIRouter(prefix="/api/v1/identity", tags=["identity"], dependencies=[Depends(require_json)])
read_router = APIRouter(prefix="/api/v1/identity", tags=["identity"])

# High-assurance actions demand a fresh authentication (二次认证) even inside a valid session.
FRESH = timedelta(minutes=5)


def notifier_of(request: Request) -> Notifier:
    """The node's notifier."""
    return node_of(request).services.provide(NOTIFIER)


def account_read(account: Account) -> AccountRead:
    """The owner's view of an account: identifiers masked."""
    cid = phone = None
    if account.citizen_id_enc is not None:
        cid = mask_id(decrypt_field(account.citizen_id_enc, purpose=service.PURPOSE_CITIZEN_ID))
    if account.phone_enc is not None:
        phone = mask_phone(decrypt_field(account.phone_enc, purpose=service.PURPOSE_PHONE))
    return AccountRead(
        id=account.id,
        kind=account.kind,
        display_name=account.display_name,
        real_name_level=account.real_name_level,
        citizen_id_masked=cid,
        phone_masked=phone,
        email=account.email,
        mfa_enabled=account.totp_enabled,
        created_at=account.created_at,
    )


def session_read(user_session: UserSession) -> SessionRead:
    """A session as its owner sees it."""
    return SessionRead(
        id=user_session.id,
        auth_level=user_session.auth_level,
        amr=list(user_session.amr),
        auth_time=user_session.auth_time,
        created_at=user_session.created_at,
        acting_for=user_session.acting_for,
        mfa_pending=user_session.mfa_pending,
    )


def _accepted(idem: Idempotency, detail: str) -> JSONResponse:
    payload = Accepted(detail=detail).model_dump(mode="json")
    idem.remember(202, payload)
    return JSONResponse(payload, status_code=202)


@router.post("/register/natural", status_code=202, response_model=Accepted, responses=errors(429))
def register_natural(request: Request, data: NaturalRegistration, db: DbSession) -> JSONResponse:
    """Register a natural person (实名等级二级), answered alike whether or not the ID number or phone
    was registered before (the owner is told by SMS); log in afterwards."""
    # A plain ``def``: the password hash (tens of milliseconds) must not hold up the event loop.
    idem = Idempotency(db, request, scope="identity.register", payload=data.model_dump_json())
    replay = idem.replay()
    if replay is not None:
        return replay
    with keeping_audit(db):
        registration.register_natural(
            db,
            notifier_of(request),
            name=data.name,
            id_number=data.id_number,
            phone=data.phone,
            password=data.password,
            email=data.email,
            meta=request_meta(request),
        )
    return _accepted(idem, registration.ACCEPTED)


@router.post("/register/legal", status_code=202, response_model=Accepted, responses=errors(429))
def register_legal(request: Request, data: LegalRegistration, db: DbSession) -> JSONResponse:
    """Register an enterprise's account (a logged-in natural person becomes its administrator agent),
    answered alike whether or not the credit code was registered before."""
    from zhengwu.identity.deps import current_session

    idem = Idempotency(db, request, scope="identity.register_legal", payload=data.model_dump_json())
    replay = idem.replay()
    if replay is not None:
        return replay
    auth = current_session(request, db)
    agent = auth.account if auth is not None and auth.account.kind == "natural" else None
    with keeping_audit(db):
        registration.register_legal(
            db,
            notifier_of(request),
            credit_code=data.credit_code,
            name=data.name,
            legal_rep_name=data.legal_rep_name,
            password=data.password,
            phone=data.phone,
            corp_type=data.corp_type,
            agent=agent,
            meta=request_meta(request),
        )
    return _accepted(idem, registration.ACCEPTED_LEGAL)


@router.post("/login", response_model=LoginResult, responses=errors(401, 403, 423, 429))
def login(request: Request, response: Response, data: LoginRequest, db: DbSession) -> LoginResult:
    """Password login; with a second factor on the account the session waits for ``/login/mfa``."""
    meta = request_meta(request)

    # The check reads and hashes for tens of milliseconds: on SQLite without holding the write lock.
    with read_only_transactions():
        check = service.check_password(db, data.identifier, data.password, meta=meta)
    end_read_phase(db, check.account)
    with keeping_audit(db):
        account = service.record_password_check(db, check, meta=meta)
    pending = account.totp_enabled
    user_session = service.start_session(db, account, amr=["pwd"], mfa_pending=pending, meta=meta)
    assert user_session.token is not None
    set_session_cookie(response, user_session.token)
    return LoginResult(
        session=session_read(user_session),
        mfa_required=pending,
        account=None if pending else account_read(account),
    )


def _pending_session(request: Request, db: Session) -> tuple[UserSession, Account]:
    token = request.cookies.get(cookie_name())
    user_session = service.session_by_token(db, token) if token else None
    if user_session is None or not user_session.mfa_pending:
        raise NotAuthenticated("请先输入账号和密码")
    if service.session_expiry(user_session) is not None or utcnow() - user_session.created_at > FRESH:
        raise SessionExpired("登录已超时，请重新输入账号和密码")
    account = db.get(Account, user_session.account_id)
    if account is None:
        raise NotAuthenticated()
    return user_session, account


@router.post("/login/mfa", response_model=LoginResult, responses=errors(401, 429))
def login_mfa(request: Request, response: Response, data: CodeRequest, db: DbSession) -> LoginResult:
    """Second step of a login: a TOTP or recovery code; the session gets a new token."""
    user_session, account = _pending_session(request, db)
    with keeping_audit(db):
        mfa.complete_login(db, user_session, account, data.code, meta=request_meta(request))
    assert user_session.token is not None
    set_session_cookie(response, user_session.token)
    return LoginResult(session=session_read(user_session), mfa_required=False, account=account_read(account))


@router.post("/logout", status_code=204)
def logout(request: Request, db: DbSession) -> Response:
    """End the current session everywhere (back-channel logout follows from UserLoggedOut)."""
    token = request.cookies.get(cookie_name())

    def attempt() -> None:
        user_session = service.session_by_token(db, token) if token else None
        if user_session is not None and user_session.ended_at is None:
            service.end_session(
                db, user_session.id, "logout", bus=node_of(request).bus, meta=request_meta(request)
            )

    retrying_when_busy(db, attempt)
    response = Response(status_code=204)
    clear_session_cookie(response)
    return response


@read_router.get("/me", response_model=MeRead)
def me(auth: RequiredSession, db: DbSession) -> MeRead:
    """The logged-in account, its session and the claims department systems would receive."""
    return MeRead(
        account=account_read(auth.account),
        session=session_read(auth.session),
        claims=service.account_claims(db, auth.account, session=auth.session),
    )


@read_router.get("/me/events", response_model=list[AuthEventRead])
def my_events(
    auth: RequiredSession,
    db: DbSession,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[int | None, Query(ge=1, le=MAX_DB_BIGINT)] = None,
) -> list[AuthEventRead]:
    """The account's own audit trail, newest first (logins, MFA, who read its identity number)."""
    rows = events_for_account(db, auth.account.id, limit=limit, before_seq=before)
    return [AuthEventRead.model_validate(r) for r in rows]


@read_router.get("/me/reads", response_model=list[PersonalDataReadRead], summary="谁读取了我的个人信息")
def my_reads(
    request: Request,
    response: Response,
    auth: RequiredSession,
    db: DbSession,
    page: Annotated[PageParams, Depends(page_params)],
) -> list[PersonalDataReadRead]:
    """Who read the person's data — staff, department systems, verification services — newest first."""
    rows = reads_of(db, auth.account.id, offset=page.offset, limit=page.limit)
    set_page_headers(request, response, total=count_reads_of(db, auth.account.id), page=page)
    return [PersonalDataReadRead.model_validate(r) for r in rows]


@router.post("/step-up", response_model=SessionRead)
def step_up(request: Request, data: StepUpRequest, auth: RequiredSession, db: DbSession) -> SessionRead:
    """Re-authenticate inside the session (二次认证): password and/or second-factor code."""
    meta = request_meta(request)
    amr: list[str] = []
    with keeping_audit(db):
        if data.password:
            service.verify_current_password(db, auth.account, data.password, meta=meta)
            amr.append("pwd")
        if data.code:
            amr.append(mfa.verify_second_factor(db, auth.account, data.code, meta=meta))
            amr.append("mfa")
    if not amr:
        raise MfaRequired("请输入密码或动态验证码")
    service.step_up(db, auth.session, auth.account, amr=amr, meta=meta)
    return session_read(auth.session)


@router.post("/me/citizen-id")
def reveal_own_citizen_id(
    request: Request,
    db: DbSession,
    auth: Annotated[Authenticated, Depends(require_level(RealNameLevel.SELF_DECLARED, max_age=FRESH))],
) -> dict[str, str]:
    """The owner's own identity number in clear (high-assurance: authentication at most 5 minutes old)."""
    if auth.account.citizen_id_enc is None:
        raise AccountNotFound("该账号没有登记身份证号码")
    value = service.reveal_citizen_id(
        db, auth.account, reader="owner", purpose="本人查看", meta=request_meta(request)
    )
    return {"citizen_id": value}


def certificate_trust(request: Request) -> LoginCertificateTrust:
    """The node trust store's judge of login certificates (anchors trusted ``--for login``)."""
    return LoginCertificateTrust(node_of(request).settings)


def certificate_proof(
    challenge: str, certificate: str, chain: list[str], signature: str
) -> certlogin.CertificateProof:
    """The proof from its text fields (base64 DER or PEM; the API's limits), or ValidationFailed in Chinese."""
    try:
        data = CertificateAuthentication(
            challenge=challenge, certificate=certificate, chain=chain, signature=signature
        )
    except PydanticValidationError as exc:
        raise ValidationFailed("证书登录数据不完整或有误", detail_en="bad certificate login fields") from exc
    return _proof(data)


def _proof(data: CertificateAuthentication) -> certlogin.CertificateProof:
    def decode(value: str, what: str) -> bytes:
        text = value.strip()
        if text.startswith("-----BEGIN"):
            return text.encode("ascii", "replace")
        try:
            return base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise ValidationFailed(f"{what}应为 Base64 编码", detail_en="not base64") from exc

    return certlogin.CertificateProof(
        challenge=data.challenge,
        certificate=decode(data.certificate, "证书"),
        chain=tuple(decode(c, "证书链") for c in data.chain),
        signature=decode(data.signature, "签名值"),
    )


@router.post(
    "/certificate/challenge",
    response_model=CertificateChallenge,
    dependencies=[
        Depends(per_address("identity.certificate_challenge", lambda s: s.security.public_rate_per_minute))
    ],
)
def certificate_challenge(request: Request) -> CertificateChallenge:
    """Start a certificate login or step-up (数字证书认证): a challenge valid for two minutes."""
    challenge, expires = certlogin.new_challenge()
    issuer = node_of(request).settings.public_url
    return CertificateChallenge(
        challenge=challenge, message=certlogin.message(issuer, challenge).decode(), expires_at=expires
    )


@router.post("/login/certificate", response_model=LoginResult)
def login_certificate(
    request: Request,
    response: Response,
    data: CertificateAuthentication,
    db: DbSession,
    trust: Annotated[LoginCertificateTrust, Depends(certificate_trust)],
) -> LoginResult:
    """Log in with a digital certificate: real-name level 5, no second step (the UKey is two factors)."""
    proof = _proof(data)
    with keeping_audit(db):
        account, user_session = certlogin.login(
            db, proof, issuer=node_of(request).settings.public_url, trust=trust, meta=request_meta(request)
        )
    assert user_session.token is not None
    set_session_cookie(response, user_session.token)
    return LoginResult(session=session_read(user_session), mfa_required=False, account=account_read(account))


@router.post("/step-up/certificate", response_model=SessionRead)
def step_up_certificate(
    request: Request,
    data: CertificateAuthentication,
    auth: RequiredSession,
    db: DbSession,
    trust: Annotated[LoginCertificateTrust, Depends(certificate_trust)],
) -> SessionRead:
    """二次认证 with the logged-in person's own certificate: the session reaches level 5."""
    proof = _proof(data)
    with keeping_audit(db):
        certlogin.step_up(
            db,
            auth.session,
            auth.account,
            proof,
            issuer=node_of(request).settings.public_url,
            trust=trust,
            meta=request_meta(request),
        )
    return session_read(auth.session)


@router.post("/counter-verifications", response_model=AccountRead)
def counter_verification(
    request: Request,
    data: CounterVerification,
    db: DbSession,
    staff: Annotated[StaffPrincipal, Depends(guard(COUNTER_VERIFY))],
) -> JSONResponse:
    """窗口核验: a clerk records that the person was seen with the original ID card (level 4).

    The counter's department is ``department_id`` or the clerk's own; ``Idempotency-Key`` honoured: a
    retried request records nothing twice.
    """
    department = data.department_id or staff.bound_departments(COUNTER_VERIFY)[0]
    staff.ensure(COUNTER_VERIFY, department, detail="您不是该部门的窗口人员")
    idem = Idempotency(
        db, request, scope=f"identity.counter:{staff.account_id}", payload=data.model_dump_json()
    )
    replay = idem.replay()
    if replay is not None:
        return replay
    with keeping_audit(db):
        account = counter.verify_at_counter(
            db,
            clerk=staff.auth.account,
            department_id=department,
            id_number=data.id_number,
            name=data.name,
            evidence=data.evidence,
            meta=request_meta(request),
        )
    body = account_read(account).model_dump(mode="json")
    idem.remember(200, body)
    return JSONResponse(body)


def real_name_verifier(request: Request) -> realname.RealNameVerifier | None:
    """The registry verifier the composition root installed (None: the service answers 503)."""
    return node_of(request).services.get(REAL_NAME_VERIFIER)


@router.post("/me/real-name-verification", response_model=AccountRead)
def verify_own_real_name(
    request: Request,
    auth: RequiredSession,
    db: DbSession,
    verifier: Annotated[realname.RealNameVerifier | None, Depends(real_name_verifier)],
) -> AccountRead:
    """Match one's own name and ID number (or enterprise data) against the registry: level 2 → 3."""
    with keeping_audit(db):
        realname.verify_real_name(db, auth.account, verifier, meta=request_meta(request))
    return account_read(auth.account)


@router.post(
    "/mfa/enrol",
    response_model=EnrolmentRead,
    dependencies=[Depends(own_second_factor(FRESH, if_enrolled=True))],
)
def mfa_enrol(
    db: DbSession,
    auth: Annotated[Authenticated, Depends(require_level(RealNameLevel.SELF_DECLARED, max_age=FRESH))],
) -> EnrolmentRead:
    """Start TOTP enrolment (needs a fresh authentication; replacing an enrolled factor needs that factor)."""
    secret, uri = mfa.begin_enrolment(db, auth.account)
    return EnrolmentRead(secret=secret, otpauth_uri=uri)


@router.post("/mfa/confirm", response_model=RecoveryCodes)
def mfa_confirm(request: Request, data: CodeRequest, auth: RequiredSession, db: DbSession) -> RecoveryCodes:
    """Confirm enrolment with a first code; answers the recovery codes once."""
    with keeping_audit(db):
        codes = mfa.confirm_enrolment(db, auth.account, data.code, meta=request_meta(request))
    return RecoveryCodes(recovery_codes=codes)


@router.post("/mfa/disable", status_code=204)
def mfa_disable(
    request: Request, db: DbSession, auth: Annotated[Authenticated, Depends(own_second_factor(FRESH))]
) -> Response:
    """Remove one's own second factor: the session must have passed that factor in the last 5 minutes.

    A platform administrator removes someone else's (``POST /api/v1/identity/staff/{id}/mfa-reset``).
    """
    mfa.disable_mfa(db, auth.account, meta=request_meta(request))
    return Response(status_code=204)


@router.post("/password/forgot", status_code=202, response_model=Accepted)
def password_forgot(request: Request, data: ForgotRequest, db: DbSession) -> Accepted:
    """Send a reset code to the account's verified phone or e-mail (same answer for unknown accounts)."""
    with keeping_audit(db):
        reset.request_reset(db, data.identifier, notifier=notifier_of(request), meta=request_meta(request))
    return Accepted(detail="如该账号存在且绑定了手机或邮箱，验证码已发送，10分钟内有效")


@router.post("/password/reset", status_code=204)
def password_reset(request: Request, data: ResetRequest, db: DbSession) -> Response:
    """Set a new password with the code; every session of the account ends."""
    with keeping_audit(db):
        reset.confirm_reset(
            db,
            data.identifier,
            data.code,
            data.new_password,
            bus=node_of(request).bus,
            meta=request_meta(request),
        )
    return Response(status_code=204)


@router.post("/password/change", status_code=204)
def password_change(request: Request, data: PasswordChange, auth: RequiredSession, db: DbSession) -> Response:
    """Change one's password (the current one is checked); other sessions end."""
    meta = request_meta(request)
    with keeping_audit(db):
        service.verify_current_password(db, auth.account, data.current_password, meta=meta)
        service.change_password(
            db,
            auth.account,
            data.new_password,
            bus=node_of(request).bus,
            keep_session_id=auth.session.id,
            meta=meta,
        )
    return Response(status_code=204)


@router.post("/acting-for", response_model=SessionRead)
def acting_for(request: Request, data: ActingForRequest, auth: RequiredSession, db: DbSession) -> SessionRead:
    """Act for an enterprise one is an authorised agent of (or stop, with null)."""
    with keeping_audit(db):
        service.set_acting_for(db, auth.session, data.legal_entity_id, meta=request_meta(request))
    return session_read(auth.session)
