// Package attribution decides which partnership, if any, earns each
// conversion. It is a pure, deterministic function of its inputs:
// Attribute(clicks, conversions, terms) returns one Result per conversion,
// in the order the conversions were given, and the same Results whatever
// the order of either input. It keeps no state, talks to no server and
// does not modify its inputs.
//
// # Who may credit whom
//
// Conversions come from two places. Our product reports signups,
// purchases and refunds of our users (Source "ours"; an empty Source means
// the same); those can only be credited to inbound clicks, where a partner
// sent the user to us. A partner reports conversions of the users we sent
// it by postback (Source "partner:<partner id>"); those can only be
// credited to outbound clicks on that same partner's links, so a partner
// can never claim another partner's click nor one of ours. Users and
// orders are scoped the same way: user "42" of partner A is not user "42"
// of partner B nor our user "42". A Source of any other form matches no
// click.
//
// # Qualifying clicks
//
// Bot clicks never qualify. A click qualifies for a conversion when it is
// at or before the conversion (the same instant counts) and the conversion
// is no later than the click's time plus its attribution window; both ends
// are inclusive. The window is AttributionWindowDays of the terms version
// in force at the click (the click's partnership, at the click's time), so
// a later terms change neither shortens nor extends the window of clicks
// already made. With no terms, or a zero field, the catalog defaults apply
// (catalog.Terms.Defaults: 30 days, last click, 365-day revenue windows).
// A day is 24 hours. Clicks sharing an id are one click: the earliest copy
// (by time, then field values) is kept.
//
// # Matching tiers and the model
//
// The engine looks for the winning click in tiers; the first tier with a
// qualifying click decides and the later tiers are not consulted:
//
//  1. click_id: the conversion's ClickID names a known qualifying click.
//     It is decisive: no model is applied, even if other clicks are later.
//     A ClickID naming an unknown, bot, expired or foreign click leaves
//     this tier empty and matching falls through to the next tiers.
//  2. visitor: qualifying clicks with the conversion's Visitor (cookie).
//  3. fingerprint: qualifying clicks with the conversion's Fingerprint.
//     The fingerprint is salted per day, so in practice this tier matches
//     clicks of the same UTC day only; it is the weakest signal and used
//     only when neither the click id nor the cookie matches anything.
//
// Within tier 2 or 3 the candidates are ordered by time, then click id.
// The model is the AttributionModel of the terms in force at the latest
// candidate, for that candidate's partnership: last_click picks the latest
// candidate, first_click the earliest. (So if a partnership moves from
// first_click to last_click between two clicks, the version in force at
// the later click decides.) Unknown model names count as last_click.
// Result.Model is that model; for a click_id match it is the model of the
// terms in force at the named click, reported for information.
// Result.TermsVersion is the terms version in force at the winning click,
// 0 when there is none: those are the terms the credit is paid under.
//
// Result.Overlaps lists, sorted and without repeats, the other
// partnerships (not the winner's) that had a qualifying click in any tier,
// including the tiers that were not needed. It is empty when nothing won.
//
// # Processing order
//
// Conversions are processed in time order; at the same instant signups
// come before purchases, and purchases before refunds (a checkout that
// creates the account and the order in one second is a new user who
// bought), then the conversion the capture answered as new before those it
// answered as repeats (Repeat), then by conversion id. "Earlier" and "already seen" below refer
// to this order. A conversion whose non-empty ID was already processed is
// a duplicate (a redelivered event).
//
// # Signups
//
// A user is identified by (Source, UserID).
//
//   - The user's first signup is new_user, credited to the winning click,
//     or unattributed when no click qualifies.
//   - Existing=true on the user's first signup, or a later signup of a
//     user who already signed up (whether that signup was attributed,
//     unattributed or returning), is returning_user. It is still
//     attributed to the winning click if there is one (so reports can
//     count per partnership the existing users it brought back), but it
//     is not a new user. A returning_user without a winner has no
//     partnership.
//   - A later signup of a known user that would credit a partnership that
//     already has a signup of this user, or that has no winner at all, is
//     a duplicate: it adds nothing. So each partnership counts a given
//     user at most once, and a re-sent signup event is a duplicate.
//   - A signup without UserID cannot be deduplicated: it is new_user,
//     returning_user (Existing) or unattributed on its own.
//
// # Purchases
//
// A purchase whose OrderID was already seen from the same Source as a
// purchase is a duplicate and adds nothing. Purchases without OrderID are
// never deduplicated.
//
// If the user has an attributed signup (their first new_user or
// returning_user signup with a winner, processed before the purchase), the
// purchase belongs to that signup's partnership, with Match "user" and the
// signup's click, model and terms version. It is credited when the
// purchase is no later than the signup plus the revenue window, and
// outside_window otherwise (the user stays that partnership's: a later
// click of another partnership does not take over their revenue). The
// revenue window is InboundRevenueWindowDays or OutboundRevenueWindowDays,
// by the winning click's direction, of the terms in force at that click.
//
// A purchase without an attributed signup (an outbound partner postback
// naming our click id, a purchase with no UserID, or a user who signed up
// unattributed) is matched like a signup, by the tiers above; its revenue
// window counts from the matched click. No qualifying click: unattributed.
//
// Overlaps of a purchase are the other partnerships with a qualifying
// click for the purchase itself.
//
// # Refunds
//
// A refund whose OrderID was already seen from the same Source as a refund
// is a duplicate (refunds are keyed by order, so an order has at most one
// refund). A refund reverses its order, the first purchase with the same
// Source and OrderID processed before it. Its Revenue is minus its Amount
// (sign ignored), or minus the order's full amount when Amount is zero,
// and never more than the order's amount. It is credited to the order's
// partnership, click, model and terms version only when the order was
// credited and the currencies agree (an empty refund currency means the
// order's); it is credited whether or not the revenue window has since
// closed, since the refund claws back money already credited. Otherwise,
// and when the order is unknown (including an order reported later than
// its refund), it is not_credited. A conversion of an unknown Type is
// not_credited.
//
// # Result fields
//
// Partnership, Click, Model, Match and TermsVersion are filled for
// new_user and returning_user (when a click won), credited, and
// outside_window (the partnership that would have been credited); they
// are empty for unattributed, not_credited and duplicate. Revenue is the
// signed money value of a purchase (its Amount) or refund (negative) that
// is not a duplicate, whatever the outcome, so unattributed or
// outside-window revenue can be reported too; it counts towards the
// partnership only when the Outcome is credited. Signups and duplicates
// have zero Revenue. Currency is the conversion's (for a refund without
// one, its order's). Amounts are decimal.Decimal, never floats.
package attribution
