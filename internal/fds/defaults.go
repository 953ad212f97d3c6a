package fds

import "sync"

// DefaultThresholds: one strong signal asks for a step-up, two send the
// event to an analyst, three (or a block-list hit) deny.
var DefaultThresholds = Thresholds{StepUp: 40, Review: 60, Deny: 80}

// DefaultRuleSet is the built-in rule pack, used while no rule set is
// active (version 0). Scores are chosen so that no single weak signal
// (a new device, an odd hour) interrupts a customer on its own.
func DefaultRuleSet() RuleSet {
	// Failures alone stay below step_up (at most 15+10+5+5 = 35 with every
	// failure rule): the lockout ladder already counts them. The engine escalates when failures come with another signal (a
	// new device or country, machine pace, many customers on one device).
	return RuleSet{Name: "default", Thresholds: DefaultThresholds, Rules: []Rule{
		{Name: "failures_burst", Expr: `cust_failures_1m >= 5`, Score: 15,
			Description: "Five or more failed attempts by the customer in the last minute: guessing, not mistyping."},
		{Name: "failures_10m", Expr: `cust_failures_10m >= 3`, Score: 10,
			Description: "Three or more failed attempts by the customer in ten minutes."},
		{Name: "device_failures", Expr: `dev_failures_10m >= 5`, Score: 5,
			Description: "The device failed five or more times in ten minutes, whichever customers it tried."},
		{Name: "ip_failures", Expr: `ip_failures_10m >= 20`, Score: 5,
			Description: "Twenty or more failures from one IP in ten minutes (carrier NAT shares IPs, so the bar is high)."},
		{Name: "new_device", Expr: `device_new`, Score: 15,
			Description: "A device never seen before, by any customer."},
		{Name: "first_use", Expr: `first_use && !device_new`, Score: 10,
			Description: "A known device used by this customer for the first time."},
		{Name: "new_country", Expr: `country_changed`, Score: 20,
			Description: "The IP's country differs from the customer's last successful event."},
		{Name: "impossible_travel", Expr: `impossible_travel`, Score: 45,
			Description: "Faster than 900 km/h from the last successful event (100 km tolerance); VPNs and missing locations are not flagged."},
		{Name: "unusual_hour", Expr: `hour_unusual`, Score: 10,
			Description: "Less than 5% of the customer's 30-day successes fall within an hour of this time."},
		// Logins only: a registration or verification is a few steps an app
		// sends back to back by design, which would look machine-paced.
		{Name: "bot_paced", Expr: `bot_paced && kind == "login"`, Score: 30,
			Description: "Login attempts arrive at machine-regular intervals or less than a second apart."},
		{Name: "bot_paced_failing", Expr: `bot_paced && kind == "login" && cust_failures_10m >= 3`, Score: 20,
			Description: "Machine-paced attempts that keep failing: a scripted PIN or password attack."},
		{Name: "device_many_customers", Expr: `dev_customers_24h >= 3`, Score: 30,
			Description: "One device tried three or more customers in 24 hours."},
		{Name: "device_customers_burst", Expr: `dev_customers_10m >= 3`, Score: 15,
			Description: "One device tried three or more customers within ten minutes (on top of the 24-hour rule)."},
		{Name: "ip_many_customers", Expr: `ip_customers_10m >= 20`, Score: 15,
			Description: "Twenty or more customers from one IP in ten minutes (above normal carrier NAT sharing)."},
		{Name: "new_device_large_amount", Expr: `kind == "payment" && (device_new || first_use) && (amount >= 1000000 || (payments_90d >= 3 && amount_ratio >= 5.0))`, Score: 45,
			Description: "A payment of 1,000,000 KRW or more, or five times the customer's average, from a device new to the customer."},
		{Name: "amount_spike", Expr: `kind == "payment" && payments_90d >= 3 && amount_ratio >= 10.0`, Score: 20,
			Description: "A payment ten times the customer's 90-day average."},
		// The gateway records each ABNORMAL checkout (payment information
		// that failed the merchant's check) as a failure of the buyer's IP.
		// Only the authorization is scored, so the probing itself opens no
		// stream of cases; the payment that follows it goes to an analyst.
		{Name: "payment_ip_failures", Expr: `kind == "payment" && action == "payment.authorize" && ip_failures_10m >= 5`, Score: 60,
			Description: "A card authorization from an IP with five or more failures (such as tampered, ABNORMAL checkouts) in ten minutes."},
		{Name: "success_drift", Expr: `success_drift >= 0.5 && cust_attempts_24h >= 5`, Score: 10,
			Description: "Today's success rate is half the customer's 30-day rate or worse."},
		{Name: "anonymous_ip", Expr: `anonymous_ip`, Score: 10,
			Description: "The IP is a known VPN, proxy or relay."},
		{Name: "block_listed", Expr: `listed_block`, Score: 100, Force: Deny,
			Description: "The device, IP, customer or card BIN is on an operator's block list."},
		{Name: "allow_listed", Expr: `listed_allow && !listed_block`, Score: -30,
			Description: "On an operator's allow list: lowers the score, never overrides a block."},
		{Name: "clock_skew", Expr: `clock_skew`, Score: 10, Shadow: true,
			Description: "Shadow: records events whose time ran more than five minutes ahead, to watch caller clocks."},
	}}
}

// defaultProgram is DefaultRuleSet compiled once.
var defaultProgram = sync.OnceValues(func() (*Program, error) { return Compile(DefaultRuleSet()) })
