package secretpage

import (
	"crypto/sha256"
	"encoding/base64"
	"html/template"
)

// style is the pages' only styling, inline; the CSP allows exactly this text by its hash.
const style = `body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f4f5;color:#18181b}
main{max-width:36rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002}
h1{font-size:1.4rem;margin-top:0}dt{font-weight:600;margin-top:.5rem}dd{margin:0 0 0 1rem;overflow-wrap:anywhere}
code{background:#f4f4f5;padding:0 .25rem;border-radius:3px}label{display:block;font-weight:600;margin-top:1.5rem}
input[type=password]{width:100%;box-sizing:border-box;font:inherit;padding:.5rem;margin:.25rem 0 1rem}
button{font:inherit;padding:.5rem 1.25rem;border:0;border-radius:4px;background:#1d4ed8;color:#fff;cursor:pointer}
.error{color:#b91c1c;font-weight:600}.note{color:#52525b;font-size:.9rem}.agent{border-left:3px solid #a1a1aa;padding-left:.75rem}`

// csp forbids everything but the inline style above and posting the form to this origin.
var csp = func() string {
	sum := sha256.Sum256([]byte(style))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}()

// formPage asks for the value.
type formPage struct {
	Server, ComponentID, Key, Description, Reason string
	Action, Token, Error, Expires                 string
	MaxLen                                        int
}

// donePage confirms a stored value, masked.
type donePage struct {
	Server, ComponentID, Key, Masked string
	Replaced                         bool
}

// messagePage explains a refusal or an unusable link.
type messagePage struct {
	Server, Title, Text string
}

var notFound = messagePage{Title: "Link not valid",
	Text: "This link is not valid. Check that you opened it exactly as it was given to you; links work once and expire."}

func templateOf(page any) string {
	switch page.(type) {
	case formPage:
		return "form"
	case donePage:
		return "done"
	}
	return "message"
}

func withServer(page any, server string) any {
	if m, ok := page.(messagePage); ok {
		m.Server = server
		return m
	}
	return page
}

var pages = template.Must(template.New("pages").Parse(`
{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><meta name="robots" content="noindex">
<title>{{.}}</title><style>` + style + `</style></head><body><main>{{end}}
{{define "foot"}}</main></body></html>
{{end}}

{{define "form"}}{{template "head" (printf "Enter %s for %s (%s)" .Key .ComponentID .Server)}}
<h1>Enter a secret for <code>{{.ComponentID}}</code></h1>
<p><strong>{{.Server}}</strong>, the MCP server on this computer, asks you for the value of one secret.</p>
<dl>
<dt>Component</dt><dd><code>{{.ComponentID}}</code></dd>
<dt>Key</dt><dd><code>{{.Key}}</code> (the component reads it as an environment variable)</dd>
{{if .Description}}<dt>What it is, as the component describes it</dt><dd>{{.Description}}</dd>{{end}}
{{if .Reason}}<dt>Why, in the AI agent's words</dt><dd class="agent">{{.Reason}}</dd>{{end}}
<dt>Asked by</dt><dd>{{.Server}}, on this computer only</dd>
</dl>
<form method="post" action="{{.Action}}" accept-charset="utf-8" autocomplete="off">
<input type="hidden" name="token" value="{{.Token}}">
<label for="value">Value of {{.Key}}</label>
<input id="value" name="value" type="password" required autofocus maxlength="{{.MaxLen}}" spellcheck="false" autocomplete="off">
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<button type="submit">Store the secret</button>
</form>
<p class="note">The value goes from this page straight into {{.Server}}'s secret store on this computer. The AI
agent and its MCP client never see it: they are told only that the key was set, with the value masked. Only the
component <code>{{.ComponentID}}</code> receives it. This link works once and expires at {{.Expires}}. If you
did not expect this request, close the page: nothing is stored.</p>
{{template "foot"}}{{end}}

{{define "done"}}{{template "head" (printf "Stored %s for %s (%s)" .Key .ComponentID .Server)}}
<h1>Secret stored</h1>
<p>The secret <code>{{.Key}}</code> of component <code>{{.ComponentID}}</code> is {{if .Replaced}}replaced{{else}}set{{end}}
(shown masked: <code>{{.Masked}}</code>). The component receives it from its next call on.</p>
<p>You can close this page and go back to your agent. This link no longer works.</p>
{{template "foot"}}{{end}}

{{define "message"}}{{template "head" (printf "%s (%s)" .Title .Server)}}
<h1>{{.Title}}</h1>
<p>{{.Text}}</p>
{{template "foot"}}{{end}}
`))
