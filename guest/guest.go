// Package guest implements the wassette tool protocol for component authors:
// a component is a Go program built with GOOS=wasip1 GOARCH=wasm whose main
// function calls Run with the tools it offers.
//
//	func main() {
//		guest.Run(guest.Tool{
//			Name:        "greet",
//			Description: "Greets someone by name.",
//			InputSchema: json.RawMessage(`{"type":"object","properties":{"name":{"type":"string"}}}`),
//			Handler: func(args json.RawMessage) (any, error) {
//				var in struct{ Name string }
//				if err := json.Unmarshal(args, &in); err != nil {
//					return nil, err
//				}
//				return map[string]string{"greeting": "hello " + in.Name}, nil
//			},
//		})
//	}
//
// The component reads its secrets with os.Getenv and reaches the network only
// through Do and HTTPGet, which ask the wassette host to make the request on
// its behalf (WASI preview1 has no sockets) for the hosts it was granted.
//
// This package does not depend on any WebAssembly runtime; outside wasip1 the
// HTTP functions return an error, so it can be compiled and tested anywhere.
package guest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// DescribeFlag is the argument wassette passes (as the only argument after
// the program name) to ask a component to print its tool declarations.
const DescribeFlag = "--wassette-describe"

// Exit codes used by Run. Any non-zero exit is reported to the agent as a
// tool error whose message is what the component wrote to stderr.
const (
	// ExitToolError means the tool's Handler returned an error.
	ExitToolError = 1
	// ExitUsage means the component was run with arguments that do not follow
	// the wassette tool protocol, for example an unknown tool name.
	ExitUsage = 2
)

// Tool is one tool a component offers to agents.
type Tool struct {
	// Name identifies the tool; it must match ^[a-zA-Z0-9_-]{1,64}$ and must
	// not start with '-'.
	Name string
	// Description tells the agent what the tool does and when to use it.
	Description string
	// InputSchema is the JSON Schema of the arguments object. It must be a
	// JSON object with "type":"object"; nil means {"type":"object"}.
	InputSchema json.RawMessage
	// Handler runs the tool. args is the JSON arguments object ("{}" when the
	// agent sent none). The returned value is encoded as JSON and becomes the
	// tool result; a returned error becomes a tool error with err.Error() as
	// its message.
	Handler func(args json.RawMessage) (any, error)
}

// Secret is a secret a component needs: wassette shows which are missing, asks the
// person for them, and refuses a call that needs one the component lacks, with a
// message that says how to set it.
type Secret struct {
	// Key is the environment variable the component reads, e.g. "API_KEY".
	Key string `json:"key"`
	// Description tells a person what the value is and where to get it, on one
	// line of at most 512 bytes.
	Description string `json:"description"`
	// Tools are the tools that need it; empty means all of them.
	Tools []string `json:"tools,omitempty"`
}

// Component is a component's tools and the secrets they need.
type Component struct {
	Tools   []Tool
	Secrets []Secret
}

// Run serves one invocation of the wassette tool protocol and exits the
// process: it prints the tool declarations when asked to describe, or runs the
// requested tool with the JSON arguments read from stdin. It never returns.
func Run(tools ...Tool) {
	Component{Tools: tools}.Run()
}

// Run is the package's Run for a component that also declares the secrets its
// tools need.
func (c Component) Run() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr, c))
}

// description is the document printed for DescribeFlag.
type description struct {
	Tools   []toolDecl `json:"tools"`
	Secrets []Secret   `json:"secrets,omitempty"`
}

type toolDecl struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"inputSchema"`
}

var defaultSchema = json.RawMessage(`{"type":"object"}`)

// run is Run without the process exit, so it can be tested.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, c Component) int {
	tools := c.Tools
	if len(args) != 2 {
		fmt.Fprintf(stderr, "this is a wassette component: run it with wassette, not directly (want 1 argument, the tool name or %s, got %d)\n", DescribeFlag, len(args)-1)
		return ExitUsage
	}
	if args[1] == DescribeFlag {
		return describe(stdout, stderr, c)
	}
	for _, t := range tools {
		if t.Name == args[1] {
			return call(t, stdin, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "unknown tool %q\n", args[1])
	return ExitUsage
}

func describe(stdout, stderr io.Writer, c Component) int {
	doc := description{Tools: make([]toolDecl, 0, len(c.Tools)), Secrets: c.Secrets}
	for _, t := range c.Tools {
		schema := t.InputSchema
		if len(schema) == 0 {
			schema = defaultSchema
		}
		doc.Tools = append(doc.Tools, toolDecl{Name: t.Name, Description: t.Description, InputSchema: schema})
	}
	out, err := json.Marshal(doc)
	if err != nil {
		fmt.Fprintf(stderr, "cannot encode tool declarations (is an InputSchema invalid JSON?): %v\n", err)
		return ExitUsage
	}
	if _, err := stdout.Write(append(out, '\n')); err != nil {
		fmt.Fprintf(stderr, "cannot write tool declarations: %v\n", err)
		return ExitUsage
	}
	return 0
}

func call(t Tool, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	if t.Handler == nil {
		fmt.Fprintf(stderr, "tool %q has no handler\n", t.Name)
		return ExitToolError
	}
	in, err := io.ReadAll(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "cannot read arguments from stdin: %v\n", err)
		return ExitUsage
	}
	if len(in) == 0 {
		in = []byte("{}")
	}
	if !json.Valid(in) {
		fmt.Fprintf(stderr, "arguments for tool %q are not valid JSON\n", t.Name)
		return ExitUsage
	}
	result, err := safeCall(t.Handler, in)
	if err != nil {
		fmt.Fprintln(stderr, err.Error())
		return ExitToolError
	}
	out, err := json.Marshal(result)
	if err != nil {
		fmt.Fprintf(stderr, "tool %q returned a value that cannot be encoded as JSON: %v\n", t.Name, err)
		return ExitToolError
	}
	if _, err := stdout.Write(append(out, '\n')); err != nil {
		fmt.Fprintf(stderr, "cannot write the result: %v\n", err)
		return ExitToolError
	}
	return 0
}

// safeCall turns a panic in a handler into an error.
func safeCall(h func(json.RawMessage) (any, error), args json.RawMessage) (result any, err error) {
	defer func() {
		if r := recover(); r != nil {
			result, err = nil, fmt.Errorf("tool panicked: %v", r)
		}
	}()
	result, err = h(args)
	if err == nil {
		return result, nil
	}
	if err.Error() == "" {
		return nil, errors.New("tool failed without a message")
	}
	return nil, err
}
