# tend quickstart: a small static site in your home directory.
#
# Everything here runs as you, on this machine (no inventory means
# "localhost over the local transport"), with no root and no network:
#
#   tend plan  -C examples/quickstart     # what would change?
#   tend apply -C examples/quickstart -y  # make it so
#   tend plan  -C examples/quickstart -detailed-exitcode   # 0: nothing to do
#
# Then edit ~/tend-quickstart/site/index.html by hand and plan again: tend
# shows the drift as a diff, and apply puts the file back.

# A variable, with a default; override it with -var greeting=hi or
# TEND_VAR_greeting=hi.
variable "greeting" {
  type        = string
  default     = "Hello"
  description = "The greeting on the front page."
}

variable "pages" {
  type    = map(string)
  default = { about = "About this site", contact = "Write to ops@example.com" }
}

# Resources are TYPE "NAME" { ... }; TYPE.NAME is their address.
# host.facts holds what tend learned about the host in its one probe
# round trip (home directory, hostname, OS, ...).
directory "root" {
  path = "${host.facts.home}/tend-quickstart"
  mode = "0755"
}

# Referring to directory.root makes this directory come after it.
directory "site" {
  path = "${directory.root.path}/site"
  mode = "0755"
}

# Content from a template file beside this configuration.
file "index" {
  path     = "${directory.site.path}/index.html"
  template = "templates/index.html.tftpl"
  vars     = { greeting = var.greeting, host = host.facts.hostname, pages = keys(var.pages) }
  mode     = "0644"
  notify   = [exec.stamp]
}

# for_each makes one instance per key: file.page["about"], file.page["contact"].
file "page" {
  for_each = var.pages
  path     = "${directory.site.path}/${each.key}.html"
  content  = "<h1>${each.value}</h1>\n"
  mode     = "0644"
}

# A symlink pointing at the site: "current" is what a web server would serve.
symlink "current" {
  path   = "${directory.root.path}/current"
  target = directory.site.path
}

# A notified resource runs after what notifies it, once, and only when
# that changed: file.index notifies this stamp of when the front page last
# changed (an edit by hand that apply puts back is a change too).
exec "stamp" {
  command      = "date > ${directory.root.path}/last-change"
  refresh_only = true
}

file "robots" {
  path    = "${directory.site.path}/robots.txt"
  content = "User-agent: *\nDisallow:\n"
  mode    = "0644"
}
