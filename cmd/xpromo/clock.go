package main

import "time"

// clock is the time every business rule of this binary reads: whether a
// month has ended, a link or token has expired, the salt's day, retention
// cut-offs, default report ranges. It is the wall clock; TestMain sets the
// tests' clock (testenv.Clock) so no test depends on today's date.
var clock = time.Now
