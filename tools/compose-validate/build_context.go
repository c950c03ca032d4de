package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// buildContext prints, as a JSON array of slash-separated paths, the files `docker build dir`
// sends to the builder: every file of dir not excluded by dir/.dockerignore, matched by the
// pattern matcher Docker itself uses. Symbolic links are listed, never followed.
func buildContext(dir string) error {
	var patterns []string
	if file, err := os.Open(filepath.Join(dir, ".dockerignore")); err == nil {
		patterns, err = ignorefile.ReadAll(file)
		file.Close()
		if err != nil {
			return err
		}
	} else if !os.IsNotExist(err) {
		return err
	}
	matcher, err := patternmatcher.New(patterns)
	if err != nil {
		return err
	}
	files := []string{}
	err = filepath.WalkDir(dir, func(path string, entry fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		relative, err := filepath.Rel(dir, path)
		if err != nil || relative == "." {
			return err
		}
		excluded, err := matcher.MatchesOrParentMatches(relative)
		if err != nil {
			return err
		}
		if excluded {
			// A later !pattern may take back a file below an excluded directory: keep walking then.
			if entry.IsDir() && !matcher.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
		if !entry.IsDir() {
			files = append(files, filepath.ToSlash(relative))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(files)
}
