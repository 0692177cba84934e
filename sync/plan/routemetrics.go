package plan

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Route metrics (RTA_METRICS) are kept in a Route as canonical text in
// ip(8)'s own syntax ("mtu lock 1400 advmss 1360"), ordered by RTAX number:
// dumping and comparing 100k routes then costs one string each, rendering
// costs nothing, and only routes that carry metrics pay for parsing.

// Metric is one RTAX_* attribute.
type Metric struct {
	ID    uint16 // RTAX_*
	Value uint32
	Lock  bool   // RTAX_LOCK bit for this metric
	Name  string // congctl's algorithm (RTAX_CC_ALGO), empty otherwise
}

// RTAX_* numbers; the names are ip(8)'s.
const (
	MetricCongctl    = 16
	metricMaxID      = 17
	metricFeaturesID = 12
)

var metricNames = [metricMaxID + 1]string{
	2: "mtu", 3: "window", 4: "rtt", 5: "rttvar", 6: "ssthresh", 7: "cwnd",
	8: "advmss", 9: "reordering", 10: "hoplimit", 11: "initcwnd",
	12: "features", 13: "rto_min", 14: "initrwnd", 15: "quickack",
	16: "congctl", 17: "fastopen_no_cookie",
}

// MetricID returns the RTAX number of a metric's ip(8) name.
func MetricID(name string) (uint16, bool) {
	for id, n := range metricNames {
		if n != "" && n == name {
			return uint16(id), true
		}
	}
	return 0, false
}

// MetricName returns ip(8)'s name for an RTAX number, or "" if unknown.
func MetricName(id uint16) string {
	if int(id) < len(metricNames) {
		return metricNames[id]
	}
	return ""
}

// EncodeMetrics returns the canonical text of a metric set.
func EncodeMetrics(ms []Metric) string {
	if len(ms) == 0 {
		return ""
	}
	sorted := append([]Metric(nil), ms...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	var b strings.Builder
	for i, m := range sorted {
		if i > 0 {
			b.WriteByte(' ')
		}
		name := MetricName(m.ID)
		if name == "" {
			continue
		}
		b.WriteString(name)
		if m.Lock {
			b.WriteString(" lock")
		}
		b.WriteByte(' ')
		switch {
		case m.ID == MetricCongctl:
			b.WriteString(m.Name)
		case m.ID == metricFeaturesID && m.Value == 1:
			// RTAX_FEATURE_ECN is the only feature ip(8) accepts back.
			b.WriteString("ecn")
		default:
			b.WriteString(strconv.FormatUint(uint64(m.Value), 10))
		}
	}
	return b.String()
}

// DecodeMetrics parses canonical metric text back into metrics.
func DecodeMetrics(s string) ([]Metric, error) {
	if s == "" {
		return nil, nil
	}
	f := strings.Fields(s)
	var out []Metric
	for i := 0; i < len(f); i++ {
		id, ok := MetricID(f[i])
		if !ok {
			return nil, fmt.Errorf("unknown route metric %q", f[i])
		}
		m := Metric{ID: id}
		i++
		if i < len(f) && f[i] == "lock" {
			m.Lock = true
			i++
		}
		if i >= len(f) {
			return nil, fmt.Errorf("route metric %s has no value", MetricName(id))
		}
		switch {
		case id == MetricCongctl:
			m.Name = f[i]
		case id == metricFeaturesID && f[i] == "ecn":
			m.Value = 1
		default:
			v, err := strconv.ParseUint(f[i], 10, 32)
			if err != nil {
				return nil, fmt.Errorf("route metric %s: bad value %q", MetricName(id), f[i])
			}
			m.Value = uint32(v)
		}
		out = append(out, m)
	}
	return out, nil
}

// ParseMetricSetting parses one --set-route-metric NAME=VALUE.
func ParseMetricSetting(s string) (Metric, error) {
	name, val, ok := strings.Cut(s, "=")
	if !ok || name == "" || val == "" {
		return Metric{}, fmt.Errorf("%q is not NAME=VALUE", s)
	}
	id, known := MetricID(name)
	if !known {
		return Metric{}, fmt.Errorf("%q: unknown route metric %q (known: %s)", s, name, strings.Join(knownMetricNames(), ", "))
	}
	m := Metric{ID: id}
	switch {
	case id == MetricCongctl:
		m.Name = val
		if strings.ContainsAny(val, " \t\n'\"\\$`;|&<>()") {
			return Metric{}, fmt.Errorf("%q: bad congestion control name", s)
		}
	case id == metricFeaturesID && val == "ecn":
		m.Value = 1
	default:
		v, err := strconv.ParseUint(val, 10, 32)
		if err != nil {
			return Metric{}, fmt.Errorf("%q: value must be a whole number from 0 to 4294967295", s)
		}
		m.Value = uint32(v)
	}
	return m, nil
}

func knownMetricNames() []string {
	var out []string
	for _, n := range metricNames {
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

// overrideMetrics returns enc with every metric in set replacing one of the
// same ID (keeping its lock bit), or added.
func overrideMetrics(enc string, set []Metric) string {
	if len(set) == 0 {
		return enc
	}
	ms, err := DecodeMetrics(enc)
	if err != nil {
		// Canonical text comes from EncodeMetrics; a decode failure is a
		// programming error, and keeping the original is the safe answer.
		return enc
	}
	for _, s := range set {
		found := false
		for i := range ms {
			if ms[i].ID == s.ID {
				lock := ms[i].Lock
				ms[i] = s
				ms[i].Lock = lock || s.Lock
				found = true
			}
		}
		if !found {
			ms = append(ms, s)
		}
	}
	return EncodeMetrics(ms)
}
