package secretpage

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/wassette/wassette/secretstore"
)

// maxBody bounds a submission: the largest value, percent-encoded (3 bytes per byte),
// the token and the field names.
const maxBody = 3*secretstore.MaxValueLen + 1024

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	p := s.lookup(r.PathValue("token"))
	if p == nil {
		s.render(w, http.StatusNotFound, notFound)
		return
	}
	if code, msg, ok := s.usable(p); !ok {
		s.render(w, code, msg)
		return
	}
	s.render(w, http.StatusOK, s.form(p, ""))
}

func (s *Server) post(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	p := s.lookup(token)
	if p == nil {
		s.refuse(r, nil, "unknown token")
		s.render(w, http.StatusNotFound, notFound)
		return
	}
	if !sameOrigin(r) {
		s.refuse(r, p, "not from the page's own origin")
		s.render(w, http.StatusForbidden, messagePage{Title: "Refused",
			Text: "This form only accepts submissions from its own page. Open the link you were given and submit the form there."})
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		s.refuse(r, p, "not a form submission")
		s.render(w, http.StatusUnsupportedMediaType, messagePage{Title: "Refused", Text: "Submit the form on the page."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		s.refuse(r, p, "unreadable form")
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.render(w, http.StatusRequestEntityTooLarge, s.form(p, fmt.Sprintf(
				"The value is too long: the limit is %d bytes. Nothing was stored.", secretstore.MaxValueLen)))
			return
		}
		s.render(w, http.StatusBadRequest, s.form(p, "The form could not be read. Nothing was stored; try again."))
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("token")), []byte(token)) != 1 {
		s.refuse(r, p, "the form's token does not match the link")
		s.render(w, http.StatusForbidden, messagePage{Title: "Refused",
			Text: "The form does not carry this page's token. Open the link you were given and submit the form there."})
		return
	}
	if code, msg, ok := s.usable(p); !ok {
		s.refuse(r, p, "the page is no longer valid")
		s.render(w, code, msg)
		return
	}
	value := secretstore.NewValue(r.PostForm.Get("value"))
	r.PostForm.Del("value")
	r.Form.Del("value")
	if problem := checkValue(value); problem != "" {
		s.render(w, http.StatusBadRequest, s.form(p, problem+" Nothing was stored; try again."))
		s.attempt(p)
		return
	}

	// One submission: the first valid one claims the page; any other gets 410.
	s.mu.Lock()
	if p.state != pending_ {
		s.mu.Unlock()
		code, msg, _ := s.usable(p)
		s.render(w, code, msg)
		return
	}
	p.state = storing
	s.mu.Unlock()

	id, key := p.req.ComponentID, p.req.Key
	_, replaced, _ := s.cfg.Store.Lookup(id, key) // informative only; Set reports real failures
	if err := s.cfg.Store.Set(id, map[string]secretstore.Value{key: value}); err != nil {
		s.mu.Lock()
		p.state = pending_ // nothing was stored: the person may try again
		s.mu.Unlock()
		s.log.Error("secret page could not store the value", "component", id, "key", key, "page", p.id, "err", err)
		s.render(w, http.StatusInternalServerError, s.form(p,
			"The value could not be stored: "+err.Error()+". Nothing was changed; fix the problem and submit again."))
		return
	}
	out := Outcome{Masked: value.Masked(), Replaced: replaced}
	p.finish(stored, out)
	s.log.Info("secret stored from the secret page", "component", id, "key", key, "page", p.id, "replaced", replaced)
	s.render(w, http.StatusOK, donePage{Server: s.cfg.ServerName, ComponentID: id, Key: key, Masked: out.Masked, Replaced: replaced})
}

// sameOrigin reports whether a POST comes from the page's own origin. A browser names the
// origin of the page that submits a form in Origin, and says in Sec-Fetch-Site whether it is
// the target's own; a page of another site cannot forge either. One case needs both: under
// the page's "Referrer-Policy: no-referrer", browsers send "Origin: null" for its own form,
// which is accepted only with "Sec-Fetch-Site: same-origin". A missing Origin, any other
// origin, or a Sec-Fetch-Site other than same-origin is refused.
func sameOrigin(r *http.Request) bool {
	site := r.Header.Get("Sec-Fetch-Site")
	if site != "" && site != "same-origin" {
		return false
	}
	switch r.Header.Get("Origin") {
	case "http://" + r.Host:
		return true
	case "null":
		return site == "same-origin"
	}
	return false
}

// checkValue applies the store's rules, and refuses an empty value, in words that never
// show the value.
func checkValue(v secretstore.Value) string {
	if v.Reveal() == "" {
		return "The value is empty."
	}
	if err := secretstore.ValidateValue(v.Reveal()); err != nil {
		switch {
		case len(v.Reveal()) > secretstore.MaxValueLen:
			return fmt.Sprintf("The value is too long: %d bytes, the limit is %d.", len(v.Reveal()), secretstore.MaxValueLen)
		default:
			return "The value is not accepted: " + strings.TrimPrefix(err.Error(), secretstore.ErrInvalidValue.Error()+": ") + "."
		}
	}
	return ""
}

// attempt counts a refused submission and withdraws the page after maxAttempts.
func (s *Server) attempt(p *Page) {
	s.mu.Lock()
	p.attempts++
	n := p.attempts
	s.mu.Unlock()
	if n >= maxAttempts {
		p.finish(revoked, Outcome{})
	}
}

// usable reports whether p still takes a value, and otherwise what to answer.
func (s *Server) usable(p *Page) (int, messagePage, bool) {
	if time.Now().After(p.expires) {
		p.finish(expired, Outcome{})
	}
	s.mu.Lock()
	st := p.state
	s.mu.Unlock()
	again := fmt.Sprintf("To set it, ask the agent again (the request-secret tool), or run: wassette secret set %s %s --browser",
		shellQuote(p.req.ComponentID), shellQuote(p.req.Key))
	switch st {
	case pending_:
		return http.StatusOK, messagePage{}, true
	case stored, storing:
		return http.StatusGone, messagePage{Title: "Already used",
			Text: fmt.Sprintf("This link was already used: the secret %s of component %q has been stored. A link works once.", p.req.Key, p.req.ComponentID)}, false
	case expired:
		return http.StatusGone, messagePage{Title: "Link expired",
			Text: fmt.Sprintf("This link has expired; nothing was stored. %s", again)}, false
	}
	return http.StatusGone, messagePage{Title: "Link withdrawn",
		Text: fmt.Sprintf("This link was withdrawn; nothing was stored. %s", again)}, false
}

// refuse logs a refused submission: why, never the value or the token.
func (s *Server) refuse(r *http.Request, p *Page, why string) {
	attrs := []any{"reason", why, "remote", r.RemoteAddr}
	if p != nil {
		attrs = append(attrs, "component", p.req.ComponentID, "key", p.req.Key, "page", p.id)
	}
	s.log.Warn("secret page refused a submission", attrs...)
}

func (s *Server) form(p *Page, problem string) formPage {
	return formPage{
		Server: s.cfg.ServerName, ComponentID: p.req.ComponentID, Key: p.req.Key,
		Description: p.req.Description, Reason: p.req.Reason,
		Action: PathPrefix + p.token, Token: p.token, Error: problem,
		Expires: p.expires.Local().Format("15:04:05 MST"), MaxLen: secretstore.MaxValueLen,
	}
}

func (s *Server) render(w http.ResponseWriter, code int, page any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := pages.ExecuteTemplate(w, templateOf(page), withServer(page, s.cfg.ServerName)); err != nil {
		s.log.Debug("secret page: writing the response failed", "err", err)
	}
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	for _, r := range s {
		if !(r == '-' || r == '_' || r == '.' || r == '/' || r == ':' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}
