// Package testrepo builds small, deterministic package repositories for
// tests of the package resource: tiny packages (a version file each)
// in a flat apt repository, an rpm-md repository (dnf, yum, zypper) and a
// pacman repository, all served from the file system, so no test ever
// needs the network.
//
// The standard set (Packages) is tend-hello 1.0 and 2.0 (2.0 depends on
// tend-dep), tend-dep 1.0 and tend-other 1.0. Tests that need a version
// to disappear from the sources build a repository from a subset.
//
// Building needs dpkg-deb (apt), rpmbuild and createrepo_c (rpm);
// pacman repositories are written by Go code. integration/scripts/
// pkg-deps.sh installs the tools.
package testrepo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tendhq/tend/integration/lab"
)

// Pkg is one package of a test repository.
type Pkg struct {
	Name    string
	Version string // upstream version; each format adds its own release
	Depends []string
	// Files are extra files of the package by path (apt repositories
	// only), such as a systemd unit.
	Files map[string]string
}

// Packages is the standard set.
var Packages = []Pkg{
	{Name: "tend-hello", Version: "1.0"},
	{Name: "tend-hello", Version: "2.0", Depends: []string{"tend-dep"}},
	{Name: "tend-dep", Version: "1.0"},
	{Name: "tend-other", Version: "1.0"},
}

// epoch is the fixed time of every file, for reproducible repositories.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func run(dir, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "SOURCE_DATE_EPOCH="+fmt.Sprint(epoch.Unix()))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

func pkgsOrDefault(pkgs []Pkg) []Pkg {
	if len(pkgs) == 0 {
		return Packages
	}
	return pkgs
}

// DebFile is the file name of a package in an apt repository.
func DebFile(p Pkg) string { return fmt.Sprintf("%s_%s_all.deb", p.Name, p.Version) }

// BuildApt writes a flat apt repository of pkgs (the standard set when
// none are given) into dir: .deb files built with dpkg-deb, Packages,
// Packages.gz and a Release file listing them, usable as
// `deb [trusted=yes] file:DIR ./`.
func BuildApt(dir string, pkgs ...Pkg) error {
	pkgs = pkgsOrDefault(pkgs)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	build, err := os.MkdirTemp("", "tend-deb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(build)
	var index bytes.Buffer
	for _, p := range pkgs {
		root := filepath.Join(build, p.Name+"_"+p.Version)
		fields := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: tend tests <tests@tend.invalid>\nSection: misc\nPriority: optional\n", p.Name, p.Version)
		if len(p.Depends) > 0 {
			fields += "Depends: " + strings.Join(p.Depends, ", ") + "\n"
		}
		const desc = "Description: tend test package\n tiny package for the package resource's tests\n"
		control := fields + desc
		files := map[string]string{
			"DEBIAN/control":                   control,
			"usr/share/" + p.Name + "/version": p.Version + "\n",
		}
		for name, content := range p.Files {
			files[name] = content
		}
		for name, content := range files {
			path := filepath.Join(root, name)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				return err
			}
		}
		deb := filepath.Join(dir, DebFile(p))
		if err := run(build, "dpkg-deb", "--root-owner-group", "-Zgzip", "--build", root, deb); err != nil {
			return err
		}
		data, err := os.ReadFile(deb)
		if err != nil {
			return err
		}
		md := md5.Sum(data)
		sum := sha256.Sum256(data)
		fmt.Fprintf(&index, "%sFilename: ./%s\nSize: %d\nMD5sum: %s\nSHA256: %s\n%s\n", fields,
			DebFile(p), len(data), hex.EncodeToString(md[:]), hex.EncodeToString(sum[:]), desc)
	}
	// Remove .deb files of packages not in this set (a rebuild from a
	// subset drops versions).
	keep := map[string]bool{}
	for _, p := range pkgs {
		keep[DebFile(p)] = true
	}
	old, _ := filepath.Glob(filepath.Join(dir, "*.deb"))
	for _, f := range old {
		if !keep[filepath.Base(f)] {
			os.Remove(f)
		}
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.ModTime = epoch
	zw.Write(index.Bytes())
	zw.Close()
	files := map[string][]byte{"Packages": index.Bytes(), "Packages.gz": gz.Bytes()}
	var rel strings.Builder
	fmt.Fprintf(&rel, "Origin: tend\nLabel: tend tests\nSuite: tend\nCodename: tend\nDate: %s\nArchitectures: all\nDescription: tend test repository\nSHA256:\n",
		epoch.Format(time.RFC1123Z))
	for _, name := range []string{"Packages", "Packages.gz"} {
		sum := sha256.Sum256(files[name])
		fmt.Fprintf(&rel, " %s %d %s\n", hex.EncodeToString(sum[:]), len(files[name]), name)
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "Release"), []byte(rel.String()), 0o644)
}

// AptSourcePath is where InstallApt puts the repository on a lab host.
const AptSourcePath = "/srv/tend-repo"

// InstallApt makes the apt repository in dir the only package source of
// lab host i: it copies dir to /srv/tend-repo in the host, writes
// /etc/apt/sources.list.d/tend-test.list, moves every other source away
// (so apt never reaches the network) and runs apt-get update in the
// host. Calling it again with another repository replaces the first.
func InstallApt(l *lab.Lab, i int, dir string) error {
	h := l.Host(i)
	if h == nil {
		return fmt.Errorf("testrepo: no lab host %d", i)
	}
	dst := filepath.Join(h.Root, AptSourcePath)
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := copyDir(dir, dst); err != nil {
		return err
	}
	if _, err := l.Exec(i, `set -e
mkdir -p /etc/apt/sources.list.d /etc/apt/sources.list.disabled
if [ -e /etc/apt/sources.list ]; then mv /etc/apt/sources.list /etc/apt/sources.list.disabled/; fi
for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -e "$f" ] || continue
  [ "$f" = /etc/apt/sources.list.d/tend-test.list ] && continue
  mv "$f" /etc/apt/sources.list.disabled/
done
echo 'deb [trusted=yes] file:`+AptSourcePath+` ./' > /etc/apt/sources.list.d/tend-test.list
apt-get -q update -o DPkg::Lock::Timeout=60 >/tmp/tend-apt-update.log 2>&1 || { cat /tmp/tend-apt-update.log >&2; exit 1; }
`); err != nil {
		return fmt.Errorf("testrepo: installing the apt repository on %s: %w", h.Name, err)
	}
	return nil
}

// copyDir copies the regular files of src into dst (one level), mode 0644
// in 0755 directories, readable by apt's unprivileged _apt user.
func copyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// RPMFile is the file name of a package in an rpm repository.
func RPMFile(p Pkg) string { return fmt.Sprintf("%s-%s-1.noarch.rpm", p.Name, p.Version) }

// BuildRPM writes an rpm-md repository of pkgs (the standard set when
// none are given) into dir: noarch packages built with rpmbuild (release
// 1, so versions are "1.0-1") and metadata from createrepo_c.
func BuildRPM(dir string, pkgs ...Pkg) error {
	pkgs = pkgsOrDefault(pkgs)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	top, err := os.MkdirTemp("", "tend-rpm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(top)
	keep := map[string]bool{}
	for _, p := range pkgs {
		keep[RPMFile(p)] = true
		spec := fmt.Sprintf(`Name: %s
Version: %s
Release: 1
Summary: tend test package
License: MIT
BuildArch: noarch
%s
%%description
Tiny package for the package resource's tests.
%%install
mkdir -p %%{buildroot}/usr/share/%s
echo %s > %%{buildroot}/usr/share/%s/version
%%files
/usr/share/%s/version
`, p.Name, p.Version, requires(p.Depends), p.Name, p.Version, p.Name, p.Name)
		sp := filepath.Join(top, p.Name+"-"+p.Version+".spec")
		if err := os.WriteFile(sp, []byte(spec), 0o644); err != nil {
			return err
		}
		if err := run(top, "rpmbuild", "-bb", "--quiet", "--define", "_topdir "+top, "--define", "_rpmdir "+dir,
			"--define", "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm",
			// Reproducible: the same bytes on every build.
			"--define", "use_source_date_epoch_as_buildtime 1", "--define", "clamp_mtime_to_source_date_epoch 1",
			"--define", "_buildhost tend.invalid", sp); err != nil {
			return err
		}
	}
	old, _ := filepath.Glob(filepath.Join(dir, "*.rpm"))
	for _, f := range old {
		if !keep[filepath.Base(f)] {
			os.Remove(f)
		} else if err := os.Chtimes(f, epoch, epoch); err != nil { // the metadata records it
			return err
		}
	}
	old, _ = filepath.Glob(filepath.Join(dir, "repodata", "*"))
	for _, f := range old {
		os.Remove(f)
	}
	return run(dir, "createrepo_c", "-q", "--no-database", "--revision", fmt.Sprint(epoch.Unix()), "--set-timestamp-to-revision", ".")
}

func requires(deps []string) string {
	if len(deps) == 0 {
		return ""
	}
	return "Requires: " + strings.Join(deps, ", ")
}

// WriteYumRepo writes root/etc/yum.repos.d/tend.repo pointing dnf or yum
// (run with --installroot=root) at the rpm repository in dir.
func WriteYumRepo(root, dir string) error {
	return writeFile(filepath.Join(root, "etc/yum.repos.d/tend.repo"), rpmRepoFile(dir))
}

// WriteZypperRepo writes root/etc/zypp/repos.d/tend.repo pointing zypper
// (run with --root root) at the rpm repository in dir.
func WriteZypperRepo(root, dir string) error {
	return writeFile(filepath.Join(root, "etc/zypp/repos.d/tend.repo"), rpmRepoFile(dir)+"autorefresh=0\ntype=rpm-md\n")
}

func rpmRepoFile(dir string) string {
	return fmt.Sprintf("[tend]\nname=tend test repository\nbaseurl=file://%s\nenabled=1\ngpgcheck=0\nrepo_gpgcheck=0\nmetadata_expire=0\n", dir)
}

func writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o644)
}

// PacmanFile is the file name of a package in a pacman repository.
func PacmanFile(p Pkg) string { return fmt.Sprintf("%s-%s-1-any.pkg.tar.gz", p.Name, p.Version) }

// BuildPacman writes a pacman repository named "tend" of pkgs (the
// standard set when none are given) into dir: package files (.PKGINFO
// and the version file, gzip-compressed tar; pkgrel 1, so versions are
// "1.0-1") and the sync database tend.db. A pacman repository holds one
// version of a package: when pkgs has several, the last one is in the
// database (all files stay in dir).
func BuildPacman(dir string, pkgs ...Pkg) error {
	pkgs = pkgsOrDefault(pkgs)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	inDB := map[string]Pkg{}
	var names []string
	for _, p := range pkgs {
		if _, ok := inDB[p.Name]; !ok {
			names = append(names, p.Name)
		}
		inDB[p.Name] = p
		info := fmt.Sprintf("pkgname = %s\npkgbase = %s\npkgver = %s-1\npkgdesc = tend test package\nurl = https://tend.invalid\nbuilddate = %d\npackager = tend tests\nsize = %d\narch = any\nlicense = MIT\n",
			p.Name, p.Name, p.Version, epoch.Unix(), len(p.Version)+1)
		for _, d := range p.Depends {
			info += "depend = " + d + "\n"
		}
		data, err := tarGz([]tarEntry{
			{Name: ".PKGINFO", Body: info},
			{Name: "usr/", Dir: true},
			{Name: "usr/share/", Dir: true},
			{Name: "usr/share/" + p.Name + "/", Dir: true},
			{Name: "usr/share/" + p.Name + "/version", Body: p.Version + "\n"},
		})
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, PacmanFile(p)), data, 0o644); err != nil {
			return err
		}
	}
	sort.Strings(names)
	var db []tarEntry
	for _, n := range names {
		p := inDB[n]
		data, err := os.ReadFile(filepath.Join(dir, PacmanFile(p)))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		desc := fmt.Sprintf("%%FILENAME%%\n%s\n\n%%NAME%%\n%s\n\n%%BASE%%\n%s\n\n%%VERSION%%\n%s-1\n\n%%DESC%%\ntend test package\n\n%%CSIZE%%\n%d\n\n%%ISIZE%%\n%d\n\n%%SHA256SUM%%\n%s\n\n%%URL%%\nhttps://tend.invalid\n\n%%LICENSE%%\nMIT\n\n%%ARCH%%\nany\n\n%%BUILDDATE%%\n%d\n\n%%PACKAGER%%\ntend tests\n\n",
			PacmanFile(p), p.Name, p.Name, p.Version, len(data), len(p.Version)+1, hex.EncodeToString(sum[:]), epoch.Unix())
		if len(p.Depends) > 0 {
			desc += "%DEPENDS%\n" + strings.Join(p.Depends, "\n") + "\n\n"
		}
		d := p.Name + "-" + p.Version + "-1/"
		db = append(db, tarEntry{Name: d, Dir: true}, tarEntry{Name: d + "desc", Body: desc})
	}
	data, err := tarGz(db)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "tend.db.tar.gz"), data, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "tend.db"), data, 0o644)
}

// WritePacmanConf writes root/etc/pacman.conf with the repository "tend"
// in dir as the only one, signatures not required, and creates the
// database and cache directories pacman needs under root.
func WritePacmanConf(root, dir string) error {
	for _, d := range []string{"var/lib/pacman", "var/cache/pacman/pkg", "var/log", "etc/pacman.d/gnupg"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	return writeFile(filepath.Join(root, "etc/pacman.conf"),
		fmt.Sprintf("[options]\nArchitecture = auto\nSigLevel = Never\nLocalFileSigLevel = Never\n\n[tend]\nServer = file://%s\n", dir))
}

type tarEntry struct {
	Name string
	Body string
	Dir  bool
}

func tarGz(entries []tarEntry) ([]byte, error) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.ModTime = epoch
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Mode: 0o644, ModTime: epoch, Size: int64(len(e.Body)), Typeflag: tar.TypeReg, Format: tar.FormatGNU}
		if e.Dir {
			h.Mode, h.Typeflag, h.Size = 0o755, tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := io.WriteString(tw, e.Body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// AddSecurityAdvisory adds updateinfo to the rpm repository in dir (built
// by BuildRPM): one security advisory naming p, so dnf's --security and
// zypper's patch --category security select its upgrade.
func AddSecurityAdvisory(dir string, p Pkg) error {
	info := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<updates>
  <update from="security@tend.invalid" status="stable" type="security" version="1">
    <id>TEND-SA-0001</id>
    <title>%[1]s security update</title>
    <issued date="2024-01-01 00:00:00"/>
    <severity>Important</severity>
    <description>A security fix in %[1]s %[2]s.</description>
    <pkglist>
      <collection short="tend">
        <name>tend</name>
        <package name="%[1]s" version="%[2]s" release="1" epoch="0" arch="noarch">
          <filename>%[3]s</filename>
        </package>
      </collection>
    </pkglist>
  </update>
</updates>
`, p.Name, p.Version, RPMFile(p))
	f := filepath.Join(dir, "updateinfo.xml")
	if err := os.WriteFile(f, []byte(info), 0o644); err != nil {
		return err
	}
	defer os.Remove(f)
	return run(dir, "modifyrepo_c", "--mdtype=updateinfo", f, "repodata")
}
