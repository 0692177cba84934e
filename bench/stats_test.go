package main

import (
	"testing"
	"time"
)

func samples(ms ...int) []sample {
	s := make([]sample, len(ms))
	for i, m := range ms {
		s[i] = sample{wall: time.Duration(m) * time.Millisecond, maxRSSKiB: int64(m)}
	}
	return s
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []sample
		want time.Duration
	}{
		{"none", nil, 0},
		{"odd, unsorted", samples(9, 1, 5), 5 * time.Millisecond},
		{"even averages the middle two", samples(4, 1, 2, 8), 3 * time.Millisecond},
		{"outlier does not move it", samples(1, 1000, 2, 3, 2), 2 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := median(tc.in); got != tc.want {
				t.Errorf("median = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestVerdict(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    row
		want string
	}{
		{"under target", row{ours: samples(1), ref: samples(4), target: 0.3}, "PASS"},
		{"over target", row{ours: samples(1), ref: samples(2), target: 0.3}, "MISS"},
		// 0.501 prints as 0.50 beside a 0.50 target: the table must not say MISS.
		{"equal as printed", row{ours: samples(501), ref: samples(1000), target: 0.5}, "PASS"},
		{"far over target", row{ours: samples(10), ref: samples(1), target: 2}, "MISS"},
		{"no rss target", row{ours: []sample{{wall: time.Millisecond, maxRSSKiB: 1 << 30}}, ref: samples(10), target: 0.5}, "PASS"},
		{"rss limit", row{ours: []sample{{wall: time.Millisecond, maxRSSKiB: 70 << 10}}, ref: samples(10), target: 0.5, rssKiB: 64 << 10}, "MISS"},
		{"ours missing", row{ref: samples(1), target: 2}, "n/a"},
		{"floor row", row{ours: samples(1), ref: samples(1)}, "info"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.verdict(); got != tc.want {
				t.Errorf("verdict = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestFmt(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{fmtCount(100000), "100k"},
		{fmtCount(12345), "12345"},
		{fmtDur(1500 * time.Microsecond), "1.50 ms"},
		{fmtDur(2500 * time.Millisecond), "2.500 s"},
		{fmtKiB(65536), "64.0 MiB"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
