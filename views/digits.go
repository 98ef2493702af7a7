package views

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/a-h/templ"
)

// Digits renders a card secret (a number grouped with spaces, a CVV, a
// PIN) straight from its bytes, so that it never becomes a Go string on
// its way to the page. Anything but digits and spaces is refused: nothing
// else is a card secret, and nothing else could need escaping.
func Digits(b []byte) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		for _, c := range b {
			if (c < '0' || c > '9') && c != ' ' {
				return errors.New("views: a card secret holds something other than digits")
			}
		}
		_, err := w.Write(b)
		return err
	})
}

// clock writes seconds as m:ss, the way the pages state the time left.
func clock(seconds int) string {
	if seconds < 0 {
		seconds = 0
	}
	return fmt.Sprintf("%d:%02d", seconds/60, seconds%60)
}

// initial is the first letter of a partner's name, for the mark that
// stands in for a logo.
func initial(name string) string {
	for _, r := range name {
		return strings.ToUpper(string(r))
	}
	return ""
}
