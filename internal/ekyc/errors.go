package ekyc

import "github.com/haechi/haechi/internal/errs"

// Refusals. None of them counts an attempt, except ErrNonce (see
// SubmitBiometric). A counted verdict (a wrong code, a card the authority
// does not know, a face that does not match) is not an error: the method
// call returns the session's view, whose method state carries the attempt
// count and the reason, and its status once the method failed.
var (
	ErrApplicantToken = errs.New(errs.Unauthenticated, "applicant_token_invalid",
		"The verification session or its applicant token is not valid.",
		"본인확인 세션 또는 신청인 토큰이 올바르지 않습니다.")
	ErrSessionClosed = errs.New(errs.Conflict, "verification_closed",
		"The verification session has ended (passed, failed or expired).",
		"본인확인 세션이 종료되었습니다(통과, 실패 또는 만료).")
	ErrMethodClosed = errs.New(errs.Conflict, "method_closed",
		"This verification method has already passed or failed in this session.",
		"이 본인확인 수단은 이 세션에서 이미 통과했거나 실패했습니다.")
	ErrMethodUnavailable = errs.New(errs.Unavailable, "method_unavailable",
		"This verification method is not available on this server.",
		"이 서버에서는 이 본인확인 수단을 사용할 수 없습니다.")
	ErrAttemptInProgress = errs.New(errs.Conflict, "attempt_in_progress",
		"Another attempt of this method is being checked; try again when it is decided.",
		"이 본인확인 수단의 다른 시도를 확인하고 있습니다. 결과가 나온 뒤 다시 시도하세요.")
	ErrCodePending = errs.New(errs.Conflict, "code_pending",
		"A code was already sent; enter it, or wait until it expires to get a new one.",
		"인증번호가 이미 발송되었습니다. 입력하거나 만료된 뒤 다시 요청하세요.")
	ErrSendLimit = errs.New(errs.Conflict, "send_limit",
		"No more codes can be sent for this method in this session.",
		"이 세션에서 이 수단의 인증번호를 더 보낼 수 없습니다.")
	ErrNoCode = errs.New(errs.Conflict, "code_not_sent",
		"No code was sent for this method yet.", "아직 이 수단의 인증번호가 발송되지 않았습니다.")
	ErrCodeExpired = errs.New(errs.Invalid, "code_expired",
		"The code has expired; ask for a new one.", "인증번호가 만료되었습니다. 새로 요청하세요.")
	ErrNonce = errs.New(errs.Invalid, "nonce_invalid",
		"The liveness nonce is unknown, expired or already used.",
		"생체 확인 nonce가 없거나 만료되었거나 이미 사용되었습니다.")
	ErrNonceLimit = errs.New(errs.Conflict, "nonce_limit",
		"Too many unused liveness nonces; use or let one expire first.",
		"사용하지 않은 생체 확인 nonce가 너무 많습니다.")
	ErrIDCardRequired = errs.New(errs.Conflict, "id_card_required",
		"The biometric method compares with the ID card's photo: pass id_card first.",
		"생체 인증은 신분증 사진과 비교하므로 신분증 확인을 먼저 통과해야 합니다.")
	ErrBusy = errs.New(errs.Unavailable, "verification_busy",
		"The verification session is being changed by other requests; try again.",
		"다른 요청이 본인확인 세션을 변경하고 있습니다. 다시 시도하세요.")
)

// Input refusals; each names its field.
var (
	ErrInvalidPolicy = errs.New(errs.Invalid, "invalid_policy",
		"The policy must name known methods once each and need 2 to 6 methods.",
		"정책은 알려진 수단을 한 번씩만 지정하고 2~6개 수단을 요구해야 합니다.").WithField("policy")
	ErrInvalidReference = errs.New(errs.Invalid, "invalid_reference",
		"The reference must be at most 64 letters, digits or . _ : -.",
		"참조값은 영문, 숫자, . _ : - 로 64자 이내여야 합니다.").WithField("reference")
	ErrInvalidOpen = errs.New(errs.Invalid, "invalid_applicant",
		"Give either the applicant or a customer id, not both.",
		"신청인 정보와 고객 ID 중 하나만 보내야 합니다.").WithField("applicant")
	ErrInvalidImage = errs.New(errs.Invalid, "invalid_image",
		"An image is required.", "이미지가 필요합니다.").WithField("image")
	ErrImageTooLarge = errs.New(errs.TooLarge, "image_too_large",
		"The image must be at most 5 MiB.", "이미지는 5MiB 이하여야 합니다.").WithField("image")
	ErrInvalidCode = errs.New(errs.Invalid, "invalid_code",
		"The code must be 1 to 16 letters or digits.", "인증번호는 1~16자의 영문 또는 숫자여야 합니다.").WithField("code")
	ErrInvalidSerial = errs.New(errs.Invalid, "invalid_serial",
		"The security medium serial must be 1 to 32 letters, digits or hyphens.",
		"보안매체 일련번호는 영문, 숫자, 하이픈으로 1~32자여야 합니다.").WithField("serial")
	ErrInvalidNonce = errs.New(errs.Invalid, "invalid_nonce",
		"A nonce is required.", "nonce가 필요합니다.").WithField("nonce")
	ErrInvalidDecision = errs.New(errs.Invalid, "invalid_decision",
		"A decision needs a recording reference (at most 128 printable characters), and a reject a reason code (1 to 64 of a-z 0-9 _ . -).",
		"판정에는 녹화 참조값(128자 이내)이, 거절에는 사유 코드(a-z 0-9 _ . - 1~64자)가 필요합니다.")
	ErrInvalidActor = errs.New(errs.Invalid, "invalid_actor",
		"The acting operator or institution is missing.", "수행자(상담원 또는 기관)가 없습니다.")
	ErrInvalidPurge = errs.New(errs.Invalid, "invalid_purge",
		"The purge needs an actor and a cut-off time.", "파기에는 수행자와 기준 시각이 필요합니다.")
)
