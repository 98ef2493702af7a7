package httpsig

import (
	"crypto/sha512"
	"net/http"

	"github.com/dunglas/httpsfv"
)

type parsedInput struct {
	covered []string
	list    httpsfv.InnerList
}

// parseInputForTest reads the first Signature-Input member.
func parseInputForTest(r *http.Request) (parsedInput, error) {
	d, err := httpsfv.UnmarshalDictionary(r.Header.Values("Signature-Input"))
	if err != nil {
		return parsedInput{}, err
	}
	m, _ := d.Get(d.Names()[0])
	list := m.(httpsfv.InnerList)
	var p parsedInput
	p.list = list
	for _, it := range list.Items {
		p.covered = append(p.covered, it.Value.(string))
	}
	return p, nil
}

func sha512Sum384(b []byte) []byte {
	h := sha512.Sum384(b)
	return h[:]
}
