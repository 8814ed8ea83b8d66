// Command protogen compiles the .proto files of messages/ and runs
// protoc-gen-go on them, without protoc: the compiler is
// github.com/bufbuild/protocompile and the plugin is the protoc-gen-go of
// the google.golang.org/protobuf version pinned in go.mod, so `make proto`
// needs nothing beyond the Go module proxy and gives the same bytes on every
// machine.
//
//	protogen -plugin bin/protoc-gen-go -I messages -out DIR file.proto...
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/linker"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

func main() {
	plugin := flag.String("plugin", "bin/protoc-gen-go", "path of the protoc-gen-go binary")
	include := flag.String("I", "messages", "import path of the .proto files")
	out := flag.String("out", "messages", "directory to write generated files to")
	param := flag.String("param", "paths=source_relative", "plugin parameter")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "protogen: name at least one .proto file")
		os.Exit(2)
	}
	if err := run(*plugin, *include, *out, *param, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "protogen:", err)
		os.Exit(1)
	}
}

func run(plugin, include, out, param string, files []string) error {
	compiler := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: []string{include}}),
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	compiled, err := compiler.Compile(context.Background(), files...)
	if err != nil {
		return err
	}
	req := &pluginpb.CodeGeneratorRequest{FileToGenerate: files, Parameter: proto.String(param)}
	seen := map[string]bool{}
	for _, f := range compiled {
		addWithDeps(req, f, seen)
	}
	in, err := proto.Marshal(req)
	if err != nil {
		return err
	}
	cmd := exec.Command(plugin)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stderr = os.Stderr
	outBytes, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("running %s: %w", plugin, err)
	}
	var resp pluginpb.CodeGeneratorResponse
	if err := proto.Unmarshal(outBytes, &resp); err != nil {
		return fmt.Errorf("reading %s's answer: %w", plugin, err)
	}
	if resp.Error != nil {
		return fmt.Errorf("%s: %s", plugin, resp.GetError())
	}
	for _, f := range resp.File {
		path := filepath.Join(out, f.GetName())
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(f.GetContent()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// addWithDeps appends f's descriptor after those of its imports, as the
// plugin protocol requires (topological order, each file once).
func addWithDeps(req *pluginpb.CodeGeneratorRequest, f protoreflect.FileDescriptor, seen map[string]bool) {
	if seen[f.Path()] {
		return
	}
	seen[f.Path()] = true
	imports := f.Imports()
	for i := 0; i < imports.Len(); i++ {
		addWithDeps(req, imports.Get(i).FileDescriptor, seen)
	}
	var fdp *descriptorpb.FileDescriptorProto
	if res, ok := f.(linker.Result); ok {
		fdp = res.FileDescriptorProto()
	} else {
		fdp = protodesc.ToFileDescriptorProto(f)
	}
	req.ProtoFile = append(req.ProtoFile, fdp)
}
