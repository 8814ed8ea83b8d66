package supervisor

import (
	"fmt"
	"runtime/debug"
)

// PanicError is a recovered panic turned into an error.
type PanicError struct {
	// Value is what was passed to panic.
	Value any
	// Stack is the panicking goroutine's stack, captured during recovery.
	Stack []byte
}

// Error returns "panic: <value>".
func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Unwrap returns Value when it is an error, so errors.Is matches a panic(err)
// against err.
func (e *PanicError) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return nil
}

// Recover runs fn and converts a panic inside it into a *PanicError carrying
// the stack. Code that runs handlers on its own goroutines uses it so that a
// panicking handler becomes a Failure with CausePanic instead of crashing the
// process.
func Recover(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	fn()
	return nil
}
