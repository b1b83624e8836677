// Command weather is an example wassette component: a weather API client that
// gets its API key and endpoint from the secrets wassette passes as
// environment variables, and reaches the network through the wassette host.
//
// Build it with:
//
//	GOOS=wasip1 GOARCH=wasm go build -o weather.wasm ./examples/weather
//
// It needs the secrets API_KEY and ENDPOINT_URL (e.g.
// https://api.openweathermap.org/data/2.5) and network access to the
// endpoint's host.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/wassette/wassette/guest"
)

func main() {
	guest.Run(guest.Tool{
		Name:        "get_weather",
		Description: "Returns the current weather for a city, as JSON from the configured weather API.",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string","description":"City name, e.g. \"Paris\" or \"Paris,FR\"."}},"required":["city"]}`),
		Handler:     getWeather,
	})
}

func getWeather(args json.RawMessage) (any, error) {
	var in struct {
		City string `json:"city"`
	}
	if err := json.Unmarshal(args, &in); err != nil {
		return nil, fmt.Errorf("invalid arguments: %v", err)
	}
	if strings.TrimSpace(in.City) == "" {
		return nil, errors.New(`argument "city" is required`)
	}
	key := os.Getenv("API_KEY")
	if key == "" {
		return nil, errors.New("API_KEY not configured: ask the user for it; they run `wassette secret set <component-id> API_KEY -` " +
			"(or a model calls set-secret with a value the user gave it)")
	}
	endpoint := os.Getenv("ENDPOINT_URL")
	if endpoint == "" {
		return nil, errors.New("ENDPOINT_URL not configured: set-secret (key ENDPOINT_URL) or `wassette secret set " +
			"<component-id> ENDPOINT_URL https://...` sets it")
	}
	u := strings.TrimRight(endpoint, "/") + "/weather?q=" + url.QueryEscape(in.City) + "&appid=" + url.QueryEscape(key)
	resp, err := guest.Do(&guest.Request{
		Method: "GET",
		URL:    u,
		Header: map[string][]string{"X-Api-Key": {key}, "Accept": {"application/json"}},
	})
	if err != nil {
		return nil, fmt.Errorf("weather request failed: %w", err)
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("weather API answered HTTP %d: %s", resp.StatusCode, truncate(resp.Body, 512))
	}
	if !json.Valid(resp.Body) {
		return nil, errors.New("weather API answered with a body that is not JSON")
	}
	return json.RawMessage(resp.Body), nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
