package spend

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/card"
)

// DecidedBy names who made an authorisation's decision. Stored values.
type DecidedBy string

// Who decides.
const (
	// DecidedByVaultpage: vaultpage's own checks and controls, the partner
	// not asked or its approval overruled by them.
	DecidedByVaultpage DecidedBy = "vaultpage"
	// DecidedByPartner: the partner's real-time decision endpoint answered.
	DecidedByPartner DecidedBy = "partner"
	// DecidedByStandIn: the endpoint did not answer in time or answered
	// something that is no answer; the partner's fallback decided.
	DecidedByStandIn DecidedBy = "stand_in"
)

// Stand-in causes: why the endpoint's answer was not taken.
const (
	CauseTimeout    = "timeout"    // no answer within the endpoint's timeout
	CauseConnection = "connection" // no connection, or it broke
	CauseStatus     = "status"     // an HTTP status other than 200
	CauseMalformed  = "malformed"  // a body that is not a valid answer
	CauseBusy       = "busy"       // too many questions to the partner in flight
)

// Decision is how a partner's real-time decision endpoint took part in an
// authorisation: nil on one it was not asked about.
type Decision struct {
	By DecidedBy
	// Latency is the time from asking to the answer, or to giving up.
	Latency time.Duration
	// Cause is the stand-in's (Cause*), "" when the partner answered.
	Cause string
	// Reason is the partner's own reason, as it gave it.
	Reason string
	// Requested is the amount the merchant asked for; the authorisation's
	// Amount is the amount approved (less, for a partial approval).
	Requested card.Amount
	// Funded is what the partner's answer credited to the account with the
	// hold (just-in-time funding).
	Funded card.Amount
}

// Question is what a partner's decision endpoint is asked: an
// authorisation vaultpage's checks and controls approve, but for a balance
// the partner may fund, and what the account has available.
type Question struct {
	Authorization Authorization
	Available     card.Amount
	// Authentication, when set, is the question instead: a merchant's
	// request to authenticate an online payment, which the partner may
	// decline or have the cardholder authenticate (it cannot exempt one
	// that no exemption lets through).
	Authentication *Authentication
}

// Answer is the endpoint's answer, or its fallback's.
type Answer struct {
	By       DecidedBy // DecidedByPartner or DecidedByStandIn
	Approved bool
	// Amount, when set, approves that much of the amount asked (at most
	// all of it): a partial approval.
	Amount *card.Amount
	// Fund is credited to the account in the transaction that holds the
	// amount.
	Fund card.Amount
	// Challenge, answering an authentication, has the cardholder
	// authenticate the payment.
	Challenge bool
	Reason    string
	Cause     string
	Latency   time.Duration
}

// RealTime is the partners' real-time decision endpoints.
type RealTime interface {
	// Registered tells whether the partner has an endpoint to ask.
	Registered(ctx context.Context, partnerID uuid.UUID) (bool, error)
	// Ask asks the partner's endpoint about q and returns its answer, or
	// the partner's fallback with its cause: it never fails, and it returns
	// within the endpoint's timeout and a little.
	Ask(ctx context.Context, partnerID uuid.UUID, q Question) Answer
}

// Decline reasons of the real-time decision.
const (
	// DeclinePartnerDeclined: the partner's endpoint declined.
	DeclinePartnerDeclined = "partner_declined"
	// DeclinePartnerUnavailable: the endpoint gave no answer and the
	// partner's fallback is to decline.
	DeclinePartnerUnavailable = "partner_unavailable"
)

// Prepared is an authorisation request made ready to be decided: the card
// found and, when its partner decides in real time, vaultpage's own checks
// made (and the card data's tries counted) and the partner asked, with no
// transaction or lock held while it answered. Commit decides it.
type Prepared struct {
	s         *Service
	partnerID uuid.UUID
	r         Request
	id        uuid.UUID
	amt       card.Amount
	now       time.Time
	// presented is what the vault made of the presented card data.
	presented presented
	// done is the answer already made: a number no card carries, or a
	// decline by vaultpage's checks, recorded before the partner was asked.
	done *Authorization
	// deferred, set by Prepare, keeps such a decline for Commit to record
	// in the caller's transaction; declined is that decline.
	deferred bool
	declined *Authorization
	// checked and answer are set when the partner was asked.
	checked *Authorization
	answer  *Answer
}

// Prepare makes a request ready to be decided (see Prepared), so that a
// caller can commit the decision in a transaction of its own (a request
// with an Idempotency-Key) without holding it while the partner answers; a
// decline of vaultpage's checks is recorded by Commit, in that transaction.
// The card data stays in r until Commit; the caller wipes it. Errors: as
// Authorize.
func (s *Service) Prepare(ctx context.Context, partnerID uuid.UUID, r Request) (*Prepared, error) {
	if !s.cfg.Sandbox {
		return nil, ErrSandboxOnly
	}
	return s.prepare(ctx, &partnerID, r, true)
}

// asks tells whether the partner decides in real time.
func (s *Service) asks(ctx context.Context, partnerID uuid.UUID) (bool, error) {
	if s.cfg.RealTime == nil {
		return false, nil
	}
	return s.cfg.RealTime.Registered(ctx, partnerID)
}

// ask makes vaultpage's own checks of p, in a transaction of their own
// that counts the card data's tries and records a decline, and then, with
// no transaction held, asks the partner about an authorisation they
// approve. On the network's door the reference is reserved first, so that
// a resend meanwhile waits for this answer rather than asking again.
func (p *Prepared) ask(ctx context.Context) error {
	s := p.s
	ref := p.r.NetworkReference
	if ref != "" {
		if err := p.reserve(ctx); err != nil {
			return err
		}
	}
	var available card.Amount
	err := s.decideOn(ctx, p, func(sub Subject) (Outcome, error) {
		p.checked, p.declined, p.done = nil, nil, nil // from an earlier run
		var o Outcome
		a, reason, err := s.examine(&o, &sub, p)
		if err != nil {
			return Outcome{}, err
		}
		if reason == "" || reason == DeclineInsufficientFunds {
			// The partner may fund what the account lacks.
			p.checked, available = &a, sub.Account.Available
			return o, nil
		}
		a.decided(reason)
		if p.deferred {
			p.declined = &a // recorded by Commit
			return o, nil
		}
		p.done, o.Release = &a, ref
		return o, o.record(a)
	})
	if err != nil && ref != "" {
		err = errors.Join(err, p.release(ctx))
	}
	if err != nil || p.checked == nil {
		return err
	}
	ans := s.cfg.RealTime.Ask(ctx, p.partnerID, Question{Authorization: *p.checked, Available: available})
	p.answer = &ans
	return nil
}

// reserve reserves p's network reference for its authorisation, or takes
// over a reservation whose process died (and its id: the partner sees one
// webhook-id). A sending that was decided or is being decided answers
// errReferenceInFlight. The reservation is made before the decision's
// transaction and the look for a decided sending after it: a sending
// decided before the reservation is found, and one decided after it had
// to hold the reservation.
func (p *Prepared) reserve(ctx context.Context) error {
	s, ref := p.s, p.r.NetworkReference
	now := s.now() // the lease runs from now, after the card data was compared
	holder, reserved, err := s.store.ReserveReference(ctx, ref, p.id, now, now.Add(-ReservationLease))
	if err != nil {
		return err
	}
	if !reserved {
		return errReferenceInFlight
	}
	p.id = holder
	if _, err := s.store.ReferencedAuthorization(ctx, ref); !errors.Is(err, ErrNotFound) {
		if err == nil {
			err = errReferenceInFlight
		}
		return errors.Join(err, p.release(ctx))
	}
	return nil
}

// release ends the reservation of p's network reference, when nothing was
// decided: a resend decides afresh at once rather than after the lease.
func (p *Prepared) release(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return p.s.store.ReleaseReference(rctx, p.r.NetworkReference)
}

// Commit decides the prepared request exactly once, in one transaction
// (the caller's, when ctx carries one), and records it. Errors: as
// Authorize.
func (p *Prepared) Commit(ctx context.Context) (Authorization, error) {
	switch {
	case p.done != nil:
		return *p.done, nil
	case p.declined != nil:
		a := *p.declined
		return a, p.s.decideOn(ctx, p, func(Subject) (Outcome, error) {
			o := Outcome{Release: p.r.NetworkReference}
			return o, o.record(a)
		})
	case p.answer != nil:
		a, err := p.s.settle(ctx, p)
		if p.r.NetworkReference != "" && err != nil && !errors.Is(err, ErrReferenceTaken) {
			err = errors.Join(err, p.release(ctx))
		}
		return a, err
	}
	return p.s.decideNow(ctx, p)
}

// settle makes the decision after the partner's answer: under the lock,
// from what the subject holds now, the partner's answer applied (its
// partial amount, its funding) and vaultpage's checks and controls made
// again, so that what the partner approved while others spent is still
// decided exactly once.
func (s *Service) settle(ctx context.Context, p *Prepared) (Authorization, error) {
	var out Authorization
	err := s.decideOn(ctx, p, func(sub Subject) (Outcome, error) {
		a, ans := *p.checked, *p.answer
		var o Outcome
		// The latency is kept to the microsecond, as it is stored.
		d := &Decision{By: ans.By, Latency: ans.Latency.Truncate(time.Microsecond), Cause: ans.Cause, Reason: ans.Reason, Requested: a.Amount}
		a.Decision = d
		var (
			reason string
			err    error
		)
		switch {
		case !ans.Approved && ans.By == DecidedByStandIn:
			reason = DeclinePartnerUnavailable
		case !ans.Approved:
			reason = DeclinePartnerDeclined
		default:
			if ans.Amount != nil {
				a.Amount = *ans.Amount
			}
			reason = tokenDecline(p.r.TokenID, sub)
			if reason == "" && p.r.AuthenticationID != uuid.Nil {
				// Another payment may have used it while the partner
				// answered.
				if reason, err = authenticationDecline(sub.Authentication, a, p.now); err != nil {
					return Outcome{}, err
				}
			}
			if reason == "" {
				funds := sub
				funds.Account.Available += ans.Fund
				reason = decline(funds, a, p.now)
			}
			if reason == "" {
				reason = scaDecline(sub, a, p.r) // of the amount the partner approved, the counters as they are now
			}
			if reason != "" {
				d.By = DecidedByVaultpage // its checks overrule the approval
			}
		}
		a.decided(reason)
		a.UpdatedAt = s.now().UTC()
		if a.Status == StatusApproved {
			if ans.Fund > 0 {
				if err := funded(&o, sub, ans.Fund, a.UpdatedAt, a.ID); err != nil {
					return Outcome{}, err
				}
				d.Funded = ans.Fund
			}
			if err := s.afterApproval(&o, sub.Card, a.Merchant, p.now); err != nil {
				return Outcome{}, err
			}
			used(&o, sub, a)
			exempted(&o, sub, a, p.r)
		}
		o.Release, out = p.r.NetworkReference, a
		return o, o.record(a)
	})
	return out, err
}

// ReservationLease is how long a network reference stays reserved for an
// authorisation whose partner is being asked: past the longest timeout,
// with room for the decision after it. A reservation older than that was
// left by a process that died, and a resend takes it over.
const ReservationLease = 10 * time.Second

// errReferenceInFlight: a resend found its reference reserved by a sending
// still being decided.
var errReferenceInFlight = errors.New("spend: the network reference is being decided")

// decisionData is what an authorisation's event says of its real-time
// decision.
func decisionData(d *Decision, data map[string]string) {
	if d == nil {
		return
	}
	data["decided_by"] = string(d.By)
	data["requested_amount"] = d.Requested.String()
	data["partner_latency_ms"] = formatMillis(d.Latency)
	if d.Cause != "" {
		data["stand_in_cause"] = d.Cause
	}
	if d.Funded > 0 {
		data["funded_amount"] = d.Funded.String()
	}
}

// formatMillis is d in milliseconds, to the microsecond.
func formatMillis(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 3, 64)
}
