package fds

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"

	"github.com/haechi/haechi/internal/errs"
)

// Rule-set limits.
const (
	MaxRules       = 500
	MaxExprBytes   = 4 << 10
	MaxRuleNameLen = 64
	MaxSetNameLen  = 100
	MaxDescLen     = 1000
	MaxScore       = 100
	// MaxRuleCost bounds one rule (CEL cost units, roughly one per
	// operation): a rule whose worst case exceeds it is refused at load,
	// and evaluation stops there regardless. Realistic rules cost tens.
	MaxRuleCost = 1000
	// MaxSetCost bounds the worst case of a whole set, so 500 rules at
	// the per-rule limit cannot stall every decision.
	MaxSetCost = 50_000
	// maxStringLen is the size assumed for string features when
	// estimating cost: country codes, kinds and actions are short.
	maxStringLen = 64
)

// ErrInvalidRule is a rule set refused at load; copies name the rule in
// their messages and Field.
var ErrInvalidRule = errs.New(errs.Invalid, "invalid_rule",
	"The rule set is not valid.", "규칙 집합이 올바르지 않습니다.")

// Program is a compiled rule set, safe for concurrent use.
type Program struct {
	Version    int64
	Name       string
	Thresholds Thresholds
	rules      []compiled
}

type compiled struct {
	Rule
	prg cel.Program
}

// celEnv declares every feature with its type, so a rule reading a
// feature that does not exist, or comparing it to the wrong type, fails
// to compile.
var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	opts := []cel.EnvOption{
		cel.CrossTypeNumericComparisons(true), // travel_kmh > 900 reads naturally
		cel.ExtendedValidations(),
		cel.ParserRecursionLimit(64),
	}
	for _, s := range featureSpecs {
		opts = append(opts, cel.Variable(s.Name, celType(s.Type)))
	}
	return cel.NewEnv(opts...)
})

func celType(t string) *cel.Type {
	switch t {
	case TypeString:
		return cel.StringType
	case TypeInt:
		return cel.IntType
	case TypeDouble:
		return cel.DoubleType
	}
	return cel.BoolType
}

// Compile type-checks every rule and the thresholds. It refuses empty or
// duplicate names, expressions that do not compile or are not boolean,
// scores outside ±100, a Force other than step_up/review/deny, thresholds
// not ordered 0 < step_up ≤ review ≤ deny ≤ 100, more than MaxRules rules
// and expressions over MaxExprBytes.
func Compile(rs RuleSet) (*Program, error) {
	if err := checkThresholds(rs.Thresholds); err != nil {
		return nil, err
	}
	if len(rs.Name) > MaxSetNameLen || !utf8.ValidString(rs.Name) {
		return nil, invalid("name", "", fmt.Sprintf("the name must be valid UTF-8 of at most %d bytes", MaxSetNameLen))
	}
	if len(rs.Rules) > MaxRules {
		return nil, invalid("rules", "", fmt.Sprintf("more than %d rules", MaxRules))
	}
	env, err := celEnv()
	if err != nil {
		return nil, fmt.Errorf("fds: rule environment: %w", err)
	}
	p := &Program{Version: rs.Version, Name: rs.Name, Thresholds: rs.Thresholds, rules: make([]compiled, 0, len(rs.Rules))}
	seen := make(map[string]bool, len(rs.Rules))
	var total uint64
	for i, r := range rs.Rules {
		field := fmt.Sprintf("rules[%d]", i)
		if err := checkRule(r, seen); err != nil {
			return nil, invalid(field, r.Name, err.Error())
		}
		prg, cost, err := compileExpr(env, r.Expr)
		if err != nil {
			return nil, invalid(field+".expr", r.Name, err.Error())
		}
		if total += cost; total > MaxSetCost {
			return nil, invalid(field+".expr", r.Name, fmt.Sprintf("the set's worst-case cost exceeds %d", MaxSetCost))
		}
		seen[r.Name] = true
		p.rules = append(p.rules, compiled{Rule: r, prg: prg})
	}
	return p, nil
}

func checkThresholds(t Thresholds) error {
	if t.StepUp <= 0 || t.StepUp > t.Review || t.Review > t.Deny || t.Deny > MaxScore {
		return invalid("thresholds", "", "thresholds must satisfy 0 < step_up <= review <= deny <= 100")
	}
	return nil
}

func checkRule(r Rule, seen map[string]bool) error {
	switch {
	case !validRuleName(r.Name):
		return fmt.Errorf("name must be 1-%d letters, digits, '_', '-' or '.'", MaxRuleNameLen)
	case seen[r.Name]:
		return errors.New("duplicate name")
	case strings.TrimSpace(r.Expr) == "":
		return errors.New("empty expression")
	case len(r.Expr) > MaxExprBytes:
		return fmt.Errorf("expression longer than %d bytes", MaxExprBytes)
	case !utf8.ValidString(r.Expr) || !utf8.ValidString(r.Description):
		return errors.New("not valid UTF-8")
	case len(r.Description) > MaxDescLen:
		return fmt.Errorf("description longer than %d bytes", MaxDescLen)
	case r.Score < -MaxScore || r.Score > MaxScore:
		return errors.New("score must be within -100..100")
	case r.Force != "" && r.Force.Severity() < StepUp.Severity():
		return errors.New("force must be step_up, review or deny (lower a score with a negative score)")
	}
	return nil
}

func validRuleName(s string) bool {
	if s == "" || len(s) > MaxRuleNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// compileExpr returns the program and its worst-case cost.
func compileExpr(env *cel.Env, expr string) (cel.Program, uint64, error) {
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, 0, fmt.Errorf("%s", clip(iss.Err().Error(), 500))
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, 0, fmt.Errorf("expression is %s, not bool", ast.OutputType())
	}
	est, err := env.EstimateCost(ast, sizes{})
	if err != nil {
		return nil, 0, fmt.Errorf("cost: %s", clip(err.Error(), 200))
	}
	if est.Max > MaxRuleCost {
		return nil, 0, fmt.Errorf("worst-case cost %d exceeds %d", est.Max, MaxRuleCost)
	}
	prg, err := env.Program(ast, cel.CostLimit(MaxRuleCost), cel.EvalOptions(cel.OptOptimize))
	return prg, est.Max, err
}

// sizes tells the cost estimator that string features are short; the
// rest of the estimate is CEL's own.
type sizes struct{}

func (sizes) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	if p := n.Path(); len(p) == 1 && featureTypes[p[0]] == TypeString {
		return &cost.SizeEstimate{Min: 0, Max: maxStringLen}
	}
	return nil
}

func (sizes) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// invalid names the offending rule (operator input, safe to echo back).
func invalid(field, rule, reason string) *errs.Error {
	e := ErrInvalidRule.WithField(field)
	if rule != "" {
		e.EN = fmt.Sprintf("Rule %q is not valid: %s.", clip(rule, MaxRuleNameLen), reason)
		e.KO = fmt.Sprintf("규칙 %q이(가) 올바르지 않습니다: %s.", clip(rule, MaxRuleNameLen), reason)
	} else {
		e.EN = fmt.Sprintf("The rule set is not valid: %s.", reason)
		e.KO = fmt.Sprintf("규칙 집합이 올바르지 않습니다: %s.", reason)
	}
	return e
}

// Rules returns the program's rules in evaluation order.
func (p *Program) Rules() []Rule {
	out := make([]Rule, len(p.rules))
	for i, c := range p.rules {
		out[i] = c.Rule
	}
	return out
}

// Eval runs every rule over features. A rule whose evaluation fails
// (division by zero, overflow, a missing feature, the cost limit) counts
// as not matched and is listed in Errors; Eval itself never fails.
func (p *Program) Eval(features map[string]any) Evaluation {
	var ev Evaluation
	sum, force := 0, Allow
	for _, r := range p.rules {
		matched, err := evalRule(r.prg, features)
		if err != nil {
			ev.Errors = append(ev.Errors, RuleError{Rule: r.Name, Error: clip(err.Error(), 200)})
			continue
		}
		if !matched {
			continue
		}
		ev.Matched = append(ev.Matched, Match{Rule: r.Name, Score: r.Score, Force: r.Force, Shadow: r.Shadow, Description: r.Description})
		if r.Shadow {
			continue
		}
		sum += r.Score
		if r.Force.Severity() > force.Severity() {
			force = r.Force
		}
	}
	ev.Score = min(max(sum, 0), MaxScore)
	ev.Outcome = p.Thresholds.outcome(ev.Score)
	if force.Severity() > ev.Outcome.Severity() {
		ev.Outcome = force
	}
	return ev
}

func evalRule(prg cel.Program, features map[string]any) (matched bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			matched, err = false, fmt.Errorf("evaluation failed: %v", r)
		}
	}()
	out, _, err := prg.Eval(features)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("result is %s, not bool", out.Type())
	}
	return bool(b), nil
}

func (t Thresholds) outcome(score int) Outcome {
	switch {
	case score >= t.Deny:
		return Deny
	case score >= t.Review:
		return Review
	case score >= t.StepUp:
		return StepUp
	}
	return Allow
}
