package device

import (
	"errors"

	"github.com/haechi/haechi/internal/attest"
	"github.com/haechi/haechi/internal/errs"
)

// Refusals of a registration step. Every one of them that concerns a
// registration attempt counts against the customer and the device
// fingerprint (see Service); the codes are stable and reach the client.
var (
	ErrRestricted = errs.New(errs.Locked, "registration_restricted",
		"Device registration is restricted after repeated failures; try again later or verify your identity.",
		"반복된 실패로 기기등록이 제한되었습니다. 나중에 다시 시도하거나 추가 본인확인을 하세요.")
	ErrBlocked = errs.New(errs.Locked, "registration_blocked",
		"Device registration is blocked; contact the call center or visit a branch.",
		"기기등록이 차단되었습니다. 고객센터에 연락하거나 영업점을 방문하세요.")
	ErrRegistrationNotFound = errs.New(errs.NotFound, "registration_not_found",
		"The registration does not exist.", "기기등록 요청이 없습니다.")
	ErrRegistrationExpired = errs.New(errs.Invalid, "registration_expired",
		"The registration has expired; start again.", "기기등록 요청이 만료되었습니다. 처음부터 다시 시작하세요.")
	ErrRegistrationState = errs.New(errs.Conflict, "registration_state",
		"The registration is not waiting for this step.", "기기등록 요청이 이 단계를 기다리고 있지 않습니다.")
	ErrChallengeInvalid = errs.New(errs.Invalid, "challenge_invalid",
		"The challenge is wrong or was already used.", "챌린지가 올바르지 않거나 이미 사용되었습니다.")
	ErrCodeWrong = errs.New(errs.Forbidden, "code_wrong",
		"The verification code is wrong.", "인증번호가 올바르지 않습니다.")
	ErrCodeExpired = errs.New(errs.Forbidden, "code_expired",
		"The verification code has expired; start again.", "인증번호가 만료되었습니다. 처음부터 다시 시작하세요.")
	ErrCodeExhausted = errs.New(errs.Forbidden, "code_exhausted",
		"Too many wrong codes; start again.", "인증번호 입력 횟수를 초과했습니다. 처음부터 다시 시작하세요.")
	ErrKeyInvalid = errs.New(errs.Invalid, "key_invalid",
		"The public key must be a P-256 key in PKIX DER or JWK form, not used before.",
		"공개키는 PKIX DER 또는 JWK 형식의 P-256 키여야 하며 이전에 사용되지 않아야 합니다.")
	ErrProofInvalid = errs.New(errs.Forbidden, "proof_invalid",
		"The signature does not prove possession of the key.", "서명이 키 소유를 증명하지 못합니다.")
	ErrTokenReused = errs.New(errs.Forbidden, "integrity_token_reused",
		"The integrity token was already used.", "무결성 토큰이 이미 사용되었습니다.")
	ErrIdentityMismatch = errs.New(errs.Forbidden, "identity_mismatch",
		"The name, birth date and phone do not match the carrier's subscriber.",
		"이름, 생년월일, 휴대폰 번호가 통신사 가입자 정보와 일치하지 않습니다.")
	ErrCustomerUnknown = errs.New(errs.Forbidden, "customer_unknown",
		"No customer of this institution has this phone number.", "이 휴대폰 번호를 가진 고객이 없습니다.")
	ErrReportInvalid = errs.New(errs.Invalid, "report_invalid",
		"The device report is not valid.", "기기 정보가 올바르지 않습니다.")
	ErrIdentityInvalid = errs.New(errs.Invalid, "identity_invalid",
		"The name, birth date or phone is not valid.", "이름, 생년월일 또는 휴대폰 번호가 올바르지 않습니다.")
)

// Integrity policy refusals (Policy.Check).
var (
	ErrRooted = errs.New(errs.Forbidden, "device_rooted",
		"Rooted or jailbroken devices cannot be registered.", "루팅 또는 탈옥된 기기는 등록할 수 없습니다.")
	ErrEmulator = errs.New(errs.Forbidden, "device_emulator",
		"Emulators cannot be registered.", "에뮬레이터는 등록할 수 없습니다.")
	ErrDebugger = errs.New(errs.Forbidden, "debugger_attached",
		"A debugger is attached to the app.", "앱에 디버거가 연결되어 있습니다.")
	ErrPatchTooOld = errs.New(errs.Forbidden, "security_patch_too_old",
		"The device's security patch is too old; update the OS.", "기기의 보안 패치가 너무 오래되었습니다. OS를 업데이트하세요.")
	ErrAppTooOld = errs.New(errs.Forbidden, "app_version_too_old",
		"This app version is no longer supported; update the app.", "지원하지 않는 앱 버전입니다. 앱을 업데이트하세요.")
	ErrAppSignature = errs.New(errs.Forbidden, "app_signature_unknown",
		"The app is not a genuine build.", "정상적으로 배포된 앱이 아닙니다.")
	// ErrIntegrityToken is the attestation package's own error, so that a
	// token refused by the verifier and one refused by policy look alike.
	ErrIntegrityToken  = attest.ErrInvalidToken
	ErrDeviceIntegrity = errs.New(errs.Forbidden, "device_integrity_failed",
		"The platform does not vouch for this device.", "플랫폼이 이 기기의 무결성을 보증하지 않습니다.")
)

// Recovery refusals: stronger verification and operator releases.
var (
	ErrStepUpInsufficient = errs.New(errs.Forbidden, "stepup_insufficient",
		"At least two verification methods must pass.", "최소 두 가지 인증 수단을 통과해야 합니다.")
	ErrReleaseNotFound = errs.New(errs.NotFound, "release_not_found",
		"The release request does not exist.", "해제 요청이 없습니다.")
	ErrSelfApproval = errs.New(errs.Forbidden, "release_self_approval",
		"A release must be approved by another operator.", "해제 요청은 다른 운영자가 승인해야 합니다.")
	ErrReleaseNotPending = errs.New(errs.Conflict, "release_not_pending",
		"The release request was already decided.", "이미 처리된 해제 요청입니다.")
	ErrReleaseExpired = errs.New(errs.Conflict, "release_expired",
		"The release request has expired.", "해제 요청이 만료되었습니다.")
	ErrNothingToRelease = errs.New(errs.Conflict, "nothing_to_release",
		"The customer's registration is neither restricted nor blocked.", "고객의 기기등록이 제한 또는 차단 상태가 아닙니다.")
	ErrReleaseInvalid = errs.New(errs.Invalid, "release_invalid",
		"A reason and a complete identity checklist are required.", "사유와 전체 본인확인 체크리스트가 필요합니다.")
	ErrIDCheckInvalid = errs.New(errs.Invalid, "id_check_invalid",
		"Name the identity document checked in person.", "대면 확인한 신분증 종류를 지정하세요.")
)

// ErrSignatureInvalid refuses a device-signed request.
var ErrSignatureInvalid = errs.New(errs.Unauthenticated, "device_signature_invalid",
	"The device signature is missing or wrong.", "기기 서명이 없거나 올바르지 않습니다.")

// attemptError is a counted refusal that also says how many more failures
// the customer and device have before restriction mode. The count is not a
// secret: an unknown phone's pseudo-customer counts exactly like a real one.
type attemptError struct {
	err       *errs.Error
	remaining int
}

func (e *attemptError) Error() string { return e.err.Error() }
func (e *attemptError) Unwrap() error { return e.err }

// Remaining reports how many more failures are allowed before restriction
// mode, when err is a counted refusal.
func Remaining(err error) (int, bool) {
	var ae *attemptError
	if errors.As(err, &ae) {
		return ae.remaining, true
	}
	return 0, false
}
