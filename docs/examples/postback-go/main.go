// Command postback-go reports one conversion to xpromo with a signed
// postback. Set XPROMO_URL (…/v1/postback/<your partner id>),
// XPROMO_SECRET, CLICK_ID, and TYPE, ORDER_ID, USER_ID, AMOUNT, CURRENCY
// as they apply.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// sign is the hex HMAC-SHA256 of the key=value lines sorted by key
// (bytewise), sig left out.
func sign(secret string, params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "sig" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	lines := make([]string, len(keys))
	for i, k := range keys {
		lines[i] = k + "=" + params[k]
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(m.Sum(nil))
}

func main() {
	params := map[string]string{"click_id": os.Getenv("CLICK_ID"), "type": "purchase"}
	if t := os.Getenv("TYPE"); t != "" {
		params["type"] = t
	}
	for env, key := range map[string]string{"ORDER_ID": "order_id", "USER_ID": "user_id", "AMOUNT": "amount"} {
		if v := os.Getenv(env); v != "" {
			params[key] = v
		}
	}
	if params["amount"] != "" {
		params["currency"] = "EUR"
		if c := os.Getenv("CURRENCY"); c != "" {
			params["currency"] = c
		}
	}
	params["ts"] = strconv.FormatInt(time.Now().Unix(), 10) // sign every attempt anew
	params["sig"] = sign(os.Getenv("XPROMO_SECRET"), params)
	form := url.Values{}
	for k, v := range params {
		form.Set(k, v)
	}
	resp, err := http.PostForm(os.Getenv("XPROMO_URL"), form)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(strings.TrimSpace(string(body)))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, resp.Status) // 401: signature or ts; 422: a field; 503: retry
		os.Exit(1)
	}
}
