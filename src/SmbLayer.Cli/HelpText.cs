using System.Reflection;
using System.Text;
using SmbLayer.Protocol;

namespace SmbLayer.Cli;

internal static class HelpText
{
    private const int MaxWidth = 80;
    private const string SummaryIndent = "      ";

    public static string Version
    {
        get
        {
            static string Of(Assembly assembly)
            {
                var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
                    ?? assembly.GetName().Version?.ToString() ?? "?";
                var plus = version.IndexOf('+', StringComparison.Ordinal);
                return plus < 0 ? version : version[..plus];
            }
            return $"smb {Of(typeof(HelpText).Assembly)} (SmbLayer {Of(typeof(SmbClient).Assembly)})";
        }
    }

    public static string Usage
    {
        get
        {
            var text = new StringBuilder();
            text.AppendLine("Usage: smb [OPTIONS] COMMAND ARGS...");
            text.AppendLine();
            text.AppendLine("An SMB2/SMB3 client. URL is smb://[[DOMAIN;]user[:password]@]host[:port]/share[/path]");
            text.AppendLine(@"or a UNC path \\host[@port]\share\path (quote it in the shell).");
            text.AppendLine();
            text.AppendLine("Commands:");
            foreach (var command in CommandLineParser.Commands)
            {
                text.AppendLine($"  {command.Synopsis}");
                foreach (var line in Wrap(command.Summary, MaxWidth - SummaryIndent.Length))
                {
                    text.AppendLine(SummaryIndent + line);
                }
            }
            text.AppendLine();
            // The defaults shown are the library's own.
            var defaults = new SmbClientOptions();
            var failureDefault = defaults.FailureMode == SmbFailureMode.Soft ? $"soft, {defaults.SoftTimeout.TotalSeconds:0.#} s" : "hard";
            text.AppendLine($$"""
                Options (anywhere on the line; '--' ends them):
                  -U, --user [DOMAIN\]USER[%PASSWORD]
                      user as smbclient takes it ('/' also separates the domain)
                  -A, --authentication-file FILE
                      smbclient auth file: 'username = ..', 'password = ..', 'domain = ..'
                      lines; lines starting with '#' or ';' are comments
                  -N, --no-pass
                      never prompt: no password means an empty one; with no user given
                      (URL, -U, -A) the session is anonymous
                  -k, --use-kerberos=required
                      Kerberos only (the system's GSS-API and krb5.conf): with no password
                      given, the ticket cache's ticket (after kinit); with one, a ticket got
                      in memory. --use-kerberos=desired falls back to NTLM, =off (default)
                      is NTLM only. Name the server by host name, not address
                  -I, --ip-address A connect to address A instead of resolving the URL's host; the
                                     name still names the server (for Kerberos)
                  --dc HOST          a domain controller to ask about domain-based DFS paths
                                     (smb://DOMAIN/NAMESPACE/...); name it by host name
                  --min-dialect D    lowest dialect accepted (default {{defaults.MinDialect.ToDisplay()}})
                  --max-dialect D    highest dialect offered (default {{defaults.MaxDialect.ToDisplay()}})
                                     D is one of 2.0.2, 2.1, 3.0, 3.0.2, 3.1.1
                  --sign             require message signing
                  -r, --recursive    get and put copy a directory tree, many files at once
                  --encrypt          encrypt all traffic (SMB 3.x); fail if the server cannot
                  --json             ls and stat print one JSON document (below) instead of text
                  --hard             if the server goes away, wait (reconnecting) until it is back
                  --soft SECONDS     if the server goes away, give up once the connection has been
                                     unusable this long (default: {{failureDefault}}); see docs/SEMANTICS.md
                  -v, --verbose      log to stderr with timestamps, connection state changes included
                                     (-vv: more), and show stack traces
                  -h, --help         show this help
                  --version          show the version

                Credentials; the first source that has a field wins, field by field:
                  user      URL, -U, -A, then $USER ($USERNAME on Windows), like smbclient
                  password  URL, -U, -A, then $SMB_PASSWORD, then a prompt without echo
                            when stdin is a terminal, else a usage error (exit 2)
                  domain    URL, -U, -A, else none

                SMB_ZERO_COPY=off: get and put move every byte through the process's memory
                instead of splice/sendfile between the socket and the local file (Linux).

                JSON (--json): ls prints {"path": DIR, "entries": [ENTRY, ...]} sorted by name
                (a file's path lists that file alone); stat prints one ENTRY. An ENTRY has:
                  name, path (in the share, '/'-separated), type ("file" or "directory"),
                  size, allocationSize, attributes (flag names, e.g. ["ReadOnly","Archive"];
                  a bit without a name as "0x00010000"), attributesValue (the raw number),
                  creationTime, lastAccessTime, lastWriteTime, changeTime (UTC, ISO 8601,
                  e.g. "2026-12-02T06:23:01.1234567Z").

                ls smb://HOST/ lists the server's shares as smbclient -L does (Sharename, Type,
                Comment); with --json: {"server": HOST, "shares": [{"name", "type" ("disk",
                "printer", "device", "ipc"), "typeValue", "hidden", "comment"}, ...]}.

                mount serves the share through FUSE (mount(2): run it as root) in the foreground;
                --soft makes a call that cannot reach the server fail with EIO, --hard makes it
                wait (a signal interrupts it). SMB_FUSE_DEVICE names another FUSE device node.

                DFS paths are followed: a link leads to its target (the next one when a target
                is down); an error names the path as written and each target tried (exit 5).

                get and put draw a progress bar on stderr when it is a terminal (not with -v).
                Ctrl+C cancels the running operation.

                Exit codes:
                  0 success               4 not found             7 protocol/security error
                  1 other error           5 connection failure    130 cancelled (Ctrl+C)
                  2 usage error           6 access denied
                  3 authentication failed
                """);
            return text.ToString();
        }
    }

    private static IEnumerable<string> Wrap(string text, int width)
    {
        var line = new StringBuilder();
        foreach (var word in text.Split(' '))
        {
            if (line.Length > 0 && line.Length + 1 + word.Length > width)
            {
                yield return line.ToString();
                line.Clear();
            }
            if (line.Length > 0)
            {
                line.Append(' ');
            }
            line.Append(word);
        }
        if (line.Length > 0)
        {
            yield return line.ToString();
        }
    }
}
