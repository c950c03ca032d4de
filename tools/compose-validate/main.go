// compose-validate loads Compose files the way Docker Compose does (compose-go, the library
// `docker compose` itself is built on): schema validation, interpolation of ${VARIABLES} from
// the environment, merge keys, and the consistency checks (depends_on naming a defined service,
// volumes and networks declared). It prints the resolved project as JSON for the tests to read,
// or the loader's error on stderr with exit status 1. No Docker engine is needed.
//
//	compose-validate [-env-file FILE] docker-compose.yml [override.yml ...]
//	compose-validate -build-context DIR    the files `docker build DIR` would send (.dockerignore applied)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	envFile := flag.String("env-file", "", "an .env file to read variables from (the environment wins)")
	contextDir := flag.String("build-context", "", "list the files of this build context instead")
	flag.Parse()
	if *contextDir != "" {
		if err := buildContext(*contextDir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: compose-validate [-env-file FILE] compose.yml [more.yml ...] | -build-context DIR")
		os.Exit(2)
	}
	if err := validate(flag.Args(), *envFile); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func validate(files []string, envFile string) error {
	options := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(filepath.Dir(files[0])),
		cli.WithOsEnv,
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(false),
	}
	if envFile != "" {
		options = append(options, cli.WithEnvFiles(envFile), cli.WithDotEnv)
	}
	projectOptions, err := cli.NewProjectOptions(files, options...)
	if err != nil {
		return err
	}
	project, err := projectOptions.LoadProject(context.Background())
	if err != nil {
		return err
	}
	out, err := project.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(append(out, '\n'))
	return err
}
