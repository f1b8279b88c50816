package agent

import (
	"strings"
	"testing"

	"github.com/xpromo/xpromo/tracker/hit"
)

var cases = []struct {
	name string
	ua   string
	dev  hit.Device
	bot  bool
}{
	// People.
	{"chrome windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", hit.DeviceDesktop, false},
	{"firefox linux", "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", hit.DeviceDesktop, false},
	{"firefox windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0", hit.DeviceDesktop, false},
	{"safari mac", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15", hit.DeviceDesktop, false},
	{"edge windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91", hit.DeviceDesktop, false},
	{"chromebook", "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", hit.DeviceDesktop, false},
	{"iphone safari", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1", hit.DeviceMobile, false},
	{"android chrome phone", "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36", hit.DeviceMobile, false},
	{"samsung phone", "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36", hit.DeviceMobile, false},
	{"opera mini android", "Opera/9.80 (Android; Opera Mini/36.2.2254/119.132; U; id) Presto/2.12.423 Version/12.16", hit.DeviceMobile, false},
	{"windows phone", "Mozilla/5.0 (compatible; MSIE 10.0; Windows Phone 8.0; Trident/6.0; IEMobile/10.0; ARM; Touch; NOKIA; Lumia 920)", hit.DeviceMobile, false},
	{"blackberry", "BlackBerry9700/5.0.0.862 Profile/MIDP-2.1 Configuration/CLDC-1.1 VendorID/331", hit.DeviceMobile, false},
	{"android tablet", "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", hit.DeviceTablet, false},
	{"ipad", "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1", hit.DeviceTablet, false},
	{"kindle fire silk", "Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/119.3.1 like Chrome/119.0.6045.193 Safari/537.36", hit.DeviceTablet, false},
	{"playbook", "Mozilla/5.0 (PlayBook; U; RIM Tablet OS 2.1.0; en-US) AppleWebKit/536.2+ (KHTML, like Gecko) Version/7.2.1.0 Safari/536.2+", hit.DeviceTablet, false},
	{"unknown", "Mozilla/5.0 (compatible)", hit.DeviceOther, false},
	// In-app browsers carry people even though their company also runs a preview bot.
	{"snapchat in-app", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Snapchat/12.60.0.43 (like Safari/604.1)", hit.DeviceMobile, false},
	{"telegram in-app", "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/UD1A.231105.004; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/119.0.6045.193 Mobile Safari/537.36 Telegram-Android/10.3.2 (Google Pixel 8; Android 14; SDK 34; AVERAGE)", hit.DeviceMobile, false},
	{"facebook in-app", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/444.0.0.37.109;FBBV/538716013;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/17.1.2;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5]", hit.DeviceMobile, false},
	{"linkedin in-app", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 LinkedInApp/9.29.6464", hit.DeviceMobile, false},
	{"pinterest in-app", "Mozilla/5.0 (Linux; Android 13; SM-S918B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/119.0.6045.163 Mobile Safari/537.36 [Pinterest/Android]", hit.DeviceMobile, false},
	{"twitter in-app", "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Twitter for iPhone/10.12", hit.DeviceMobile, false},

	// Crawlers.
	{"googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", hit.DeviceBot, true},
	{"googlebot smartphone", "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.216 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", hit.DeviceBot, true},
	{"bingbot", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", hit.DeviceBot, true},

	// Link-preview fetchers.
	{"slackbot", "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", hit.DeviceBot, true},
	{"slack imgproxy", "Slack-ImgProxy (+https://api.slack.com/robots)", hit.DeviceBot, true},
	{"facebookexternalhit", "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", hit.DeviceBot, true},
	{"facebot", "Facebot", hit.DeviceBot, true},
	{"twitterbot", "Twitterbot/1.0", hit.DeviceBot, true},
	{"whatsapp android", "WhatsApp/2.23.20.0 A", hit.DeviceBot, true},
	{"whatsapp ios", "WhatsApp/2.2329.7 i", hit.DeviceBot, true},
	{"telegrambot", "TelegramBot (like TwitterBot)", hit.DeviceBot, true},
	{"discordbot", "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", hit.DeviceBot, true},
	{"linkedinbot", "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)", hit.DeviceBot, true},
	{"skype", "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 skype-url-preview@microsoft.com", hit.DeviceBot, true},
	{"applebot", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)", hit.DeviceBot, true},
	{"redditbot", "Mozilla/5.0 (compatible; redditbot/1.0; +http://www.reddit.com/feedback)", hit.DeviceBot, true},
	{"pinterestbot", "Mozilla/5.0 (compatible; Pinterestbot/1.0; +http://www.pinterest.com/bot.html)", hit.DeviceBot, true},
	{"pinterest fetcher", "Pinterest/0.2 (+https://www.pinterest.com/bot.html)", hit.DeviceBot, true},
	{"vkshare", "Mozilla/5.0 (compatible; vkShare; +http://vk.com/dev/Share)", hit.DeviceBot, true},
	{"iframely", "Iframely/1.3.1 (+https://iframely.com/docs/about) Atlassian", hit.DeviceBot, true},
	{"embedly", "Mozilla/5.0 (compatible; Embedly/0.2; +http://support.embed.ly/)", hit.DeviceBot, true},
	{"google pagerenderer", "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko; Google-PageRenderer Google (+https://developers.google.com/+/web/snippet/)) Chrome/56.0.2924.87 Safari/537.36", hit.DeviceBot, true},
	{"microsoftpreview", "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; MicrosoftPreview/2.0; +https://aka.ms/MicrosoftPreview) Chrome/100.0.4896.127 Safari/537.36", hit.DeviceBot, true},
	{"bingpreview", "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/534+ (KHTML, like Gecko) BingPreview/1.0b", hit.DeviceBot, true},
	{"snap url preview", "Snap URL Preview Service; bot; snapchat; https://developers.snap.com/robots", hit.DeviceBot, true},
	// These two are missed by crawlerdetect v0.2.31: the apps' native preview fetches.
	{"snapchat native", "Snapchat/10.21.1.1 CFNetwork/893.14.2 Darwin/17.3.0", hit.DeviceBot, true},
	{"viber", "Viber/20.9.0.8 CFNetwork/1410.0.3 Darwin/22.6.0", hit.DeviceBot, true},

	// HTTP libraries and headless browsers.
	{"curl", "curl/8.5.0", hit.DeviceBot, true},
	{"wget", "Wget/1.21.4", hit.DeviceBot, true},
	{"python-requests", "python-requests/2.31.0", hit.DeviceBot, true},
	{"go", "Go-http-client/1.1", hit.DeviceBot, true},
	{"okhttp", "okhttp/4.12.0", hit.DeviceBot, true},
	{"libwww-perl", "libwww-perl/6.72", hit.DeviceBot, true},
	{"headless chrome", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.109 Safari/537.36", hit.DeviceBot, true},
	{"phantomjs", "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1", hit.DeviceBot, true},

	// No UA at all.
	{"empty", "", hit.DeviceBot, true},
	{"spaces", "   ", hit.DeviceBot, true},
}

func TestClassify(t *testing.T) {
	c := New(0)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dev, bot := c.Classify(tc.ua)
			if dev != tc.dev || bot != tc.bot {
				t.Errorf("Classify(%q) = %v, %v; want %v, %v", tc.ua, dev, bot, tc.dev, tc.bot)
			}
		})
	}
}

// A tiny cache forces evictions; every answer must match the uncached one.
func TestCacheMatchesUncached(t *testing.T) {
	for _, size := range []int{3, 1000} {
		c := New(size)
		for round := 0; round < 3; round++ {
			for _, tc := range cases {
				want := classify(tc.ua)
				dev, bot := c.Classify(tc.ua)
				if dev != want.dev || bot != want.bot {
					t.Fatalf("size %d round %d: Classify(%q) = %v, %v; uncached %v, %v",
						size, round, tc.ua, dev, bot, want.dev, want.bot)
				}
			}
		}
	}
}

func TestLongUA(t *testing.T) {
	c := New(10)
	head := "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1"
	// A bot token past MaxLen is not seen: only the prefix counts.
	ua := head + strings.Repeat(" x", 100000) + " curl/8.5.0"
	if dev, bot := c.Classify(ua); dev != hit.DeviceMobile || bot {
		t.Errorf("long UA = %v, %v; want mobile, false", dev, bot)
	}
	for _, k := range c.cache.Keys() {
		if len(k) > MaxLen {
			t.Errorf("cache key of %d bytes, want <= %d", len(k), MaxLen)
		}
	}
	// The same prefix with a different tail is a cache hit with the same answer.
	if dev, bot := c.Classify(ua[:MaxLen] + "zzz"); dev != hit.DeviceMobile || bot {
		t.Errorf("same prefix = %v, %v; want mobile, false", dev, bot)
	}
	if n := c.cache.Len(); n != 1 {
		t.Errorf("cache holds %d entries, want 1", n)
	}
}

func TestConcurrent(t *testing.T) {
	c := New(8)
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 50; i++ {
				tc := cases[(i*7+g)%len(cases)]
				if dev, bot := c.Classify(tc.ua); dev != tc.dev || bot != tc.bot {
					t.Errorf("Classify(%q) = %v, %v", tc.ua, dev, bot)
					return
				}
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}

func FuzzClassify(f *testing.F) {
	for _, tc := range cases {
		f.Add(tc.ua)
	}
	f.Add("\xff\xfe\xfd iPhone \xc3")
	f.Add(strings.Repeat("é", 600)) // 1200 bytes: the cut falls inside a rune
	c := New(64)
	f.Fuzz(func(t *testing.T, ua string) {
		dev, bot := c.Classify(ua)
		if bot != (dev == hit.DeviceBot) {
			t.Fatalf("Classify(%q) = %v, %v: bot iff DeviceBot", ua, dev, bot)
		}
		if dev > hit.DeviceBot {
			t.Fatalf("Classify(%q): device %d out of range", ua, dev)
		}
	})
}

func BenchmarkClassifyCached(b *testing.B) {
	c := New(0)
	for _, tc := range cases {
		c.Classify(tc.ua)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.Classify(cases[i%len(cases)].ua)
	}
}

// People's UAs are the costly ones: crawlerdetect must scan them whole.
func BenchmarkClassifyUncached(b *testing.B) {
	var people, all []string
	for _, tc := range cases {
		all = append(all, tc.ua)
		if !tc.bot {
			people = append(people, tc.ua)
		}
	}
	for _, set := range []struct {
		name string
		uas  []string
	}{{"people", people}, {"all", all}} {
		b.Run(set.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				classify(set.uas[i%len(set.uas)])
			}
		})
	}
}
