package card

import (
	"context"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/vaultpage/vaultpage/audit"
	"github.com/vaultpage/vaultpage/vault"
)

// Personalisation is what the card bureau prints and encodes on one card.
// Number and CVV2 are bytes so that they can be wiped; Wipe them once
// written.
type Personalisation struct {
	Card       Card
	Number     Shown
	CVV2       Shown
	NameOnCard string
}

// Wipe overwrites the number and the CVV2.
func (p Personalisation) Wipe() {
	p.Number.Wipe()
	p.CVV2.Wipe()
}

// maxNameOnCard is the embossed name's length (ISO/IEC 7813 track 1).
const maxNameOnCard = 26

// latin spells the Latin letters that do not decompose into a letter and
// an accent as embossers and card bureaus write them.
var latin = map[rune]string{
	'ø': "O", 'Ø': "O", 'æ': "AE", 'Æ': "AE", 'œ': "OE", 'Œ': "OE", 'ß': "SS", 'ẞ': "SS", 'ł': "L", 'Ł': "L",
	'đ': "D", 'Đ': "D", 'ð': "D", 'Ð': "D", 'þ': "TH", 'Þ': "TH", 'ı': "I", 'ħ': "H", 'Ħ': "H", 'ŋ': "N", 'Ŋ': "N",
}

// nameOnCard is the cardholder's name as a card carries it: upper case
// Latin letters without their accents (Å is A, Ø is O, Æ is AE, ß is SS),
// spaces, hyphens, apostrophes and full stops, at most 26 characters; ""
// when the name has no letter a card can carry.
func nameOnCard(first, last string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(strings.TrimSpace(first) + " " + strings.TrimSpace(last)) {
		switch {
		case unicode.Is(unicode.Mn, r): // a combining accent
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
			b.WriteRune(unicode.ToUpper(r))
		case latin[r] != "":
			b.WriteString(latin[r])
		case r == ' ' || r == '-' || r == '\'' || r == '.':
			b.WriteRune(r)
		}
	}
	if strings.IndexFunc(b.String(), unicode.IsLetter) < 0 {
		return ""
	}
	name := strings.Join(strings.Fields(b.String()), " ")
	if len(name) > maxNameOnCard {
		name = strings.TrimSpace(name[:maxNameOnCard])
	}
	return name
}

// SendToBureau claims up to limit physical cards waiting to be made (every
// partner's, oldest first) for the card bureau under batch, and hands write
// what the bureau needs for each, in the one transaction that moves them to
// sent_to_bureau, records their events and audits the export: if write
// fails nothing is sent, and of concurrent exports each card goes to exactly
// one. write is not called when no card waits. actor names who exports for
// the audit trail. It returns how many cards the batch holds.
func (s *Service) SendToBureau(ctx context.Context, actor, batch string, limit int, write func(ctx context.Context, cards []Personalisation) error) (int, error) {
	var n int
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		claimed, err := s.store.ClaimForBureau(ctx, batch, s.now(), limit)
		if err != nil || len(claimed) == 0 {
			return err
		}
		ps := make([]Personalisation, 0, len(claimed))
		defer func() {
			for _, p := range ps {
				p.Wipe()
			}
		}()
		for _, c := range claimed {
			p, err := s.personalise(ctx, c)
			if err != nil {
				return err
			}
			ps = append(ps, p)
			if err := s.fulfilmentChanged(ctx, actor, "", c); err != nil {
				return err
			}
		}
		if err := write(ctx, ps); err != nil {
			return err
		}
		n = len(claimed)
		return s.audit.Append(ctx, audit.Entry{Actor: actor, Action: "bureau.exported", Target: "bureau_batch:" + batch,
			Details: map[string]string{"cards": strconv.Itoa(n)}})
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// personalise reads what the bureau needs for c from the vault and the
// cardholder.
func (s *Service) personalise(ctx context.Context, c Card) (Personalisation, error) {
	ind, err := s.store.Individual(ctx, c.PartnerID, c.IndividualID)
	if err != nil {
		return Personalisation{}, err
	}
	pan, err := s.vault.LoadPAN(ctx, owner(c))
	if err != nil {
		return Personalisation{}, err
	}
	defer pan.Wipe()
	cvv, err := s.vault.CVV(ctx, owner(c), vault.Expiry{Year: c.ExpYear, Month: c.ExpMonth}, vault.ServiceCodeCVV2)
	if err != nil {
		return Personalisation{}, err
	}
	defer cvv.Wipe()
	return Personalisation{Card: c, Number: append(Shown(nil), pan.Reveal()...), CVV2: append(Shown(nil), cvv.Reveal()...),
		NameOnCard: nameOnCard(ind.FirstName, ind.LastName)}, nil
}

// BureauBatch counts the cards batch sent; 0 when it sent none (its
// transaction rolled back, or it never ran).
func (s *Service) BureauBatch(ctx context.Context, batch string) (int, error) {
	return s.store.BureauBatch(ctx, batch)
}
