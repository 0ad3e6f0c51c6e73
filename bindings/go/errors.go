package walstore

// Error is a failure reported by the library.
type Error struct {
	Status  int    // the C status code, one of the Status* constants
	Op      string // the Store method (or Open) that failed
	Message string // the library's message: what failed and where
}

// The sentinels, one per failure status. errors.Is(err, ErrNotFound) is true
// for every *Error with that status, whatever its Op and Message.
var (
	ErrNotFound        = &Error{Status: StatusNotFound}
	ErrInvalidArgument = &Error{Status: StatusInvalidArgument}
	ErrBufferTooSmall  = &Error{Status: StatusBufferTooSmall}
	ErrIO              = &Error{Status: StatusIO}
	ErrNoSpace         = &Error{Status: StatusNoSpace}
	ErrCorruption      = &Error{Status: StatusCorruption}
	ErrLocked          = &Error{Status: StatusLocked}
	ErrIncompatible    = &Error{Status: StatusIncompatible}
	ErrPoisoned        = &Error{Status: StatusPoisoned}
	ErrPanic           = &Error{Status: StatusPanic}
	ErrCompacted       = &Error{Status: StatusCompacted}
)

// Error returns "walstore: <op>: <status text>: <message>", leaving out the
// parts that are empty.
func (e *Error) Error() string {
	s := "walstore: "
	if e.Op != "" {
		s += e.Op + ": "
	}
	s += StatusText(e.Status)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is reports whether target is a sentinel (an *Error with neither Op nor
// Message) of the same status.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || t == nil {
		return false
	}
	return t.Op == "" && t.Message == "" && t.Status == e.Status
}
