namespace SmbLayer.Cli;

/// <summary>How the commands read URLs and local paths from the command line.</summary>
internal static class CliPaths
{
    /// <summary>
    /// Parses a URL or UNC path that must name at least a share (or, with <paramref name="serverAllowed"/>, may name only
    /// the server); a bad one is a usage error.
    /// </summary>
    public static SmbPath ParseUrl(string text, bool serverAllowed = false)
    {
        if (!SmbPath.TryParse(text, out var path, out var error))
        {
            throw new UsageException(error.TrimEnd('.'));
        }
        if (path.Share.Length == 0 && !serverAllowed)
        {
            throw new UsageException($"'{text}' names no share (expected smb://host/share/path)");
        }
        return path;
    }

    /// <summary>True when the URL was written with a trailing separator ("smb://h/s/dir/"), which names a directory.</summary>
    public static bool NamesDirectory(string text) => text.EndsWith('/') || text.EndsWith('\\');

    /// <summary>
    /// Where <c>put</c> writes: the URL itself, or — when it ends in '/' or is a share root —
    /// the local file's name inside that directory.
    /// </summary>
    public static SmbPath ResolvePutTarget(string urlText, SmbPath url, string localFile)
    {
        if (url.Path.Length > 0 && !NamesDirectory(urlText))
        {
            return url;
        }
        var name = localFile == "-" ? "" : Path.GetFileName(localFile.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar));
        if (name.Length == 0)
        {
            throw new UsageException($"'{urlText}' names a directory; give the remote file name too");
        }
        return url.Combine(name);
    }

    /// <summary>
    /// Where <c>get</c> writes: LOCALFILE or the remote name; an existing local directory or a
    /// name ending in a separator gets the remote name appended.
    /// </summary>
    public static string ResolveGetTarget(string? localFile, SmbPath remote)
    {
        if (localFile is null)
        {
            return remote.Name;
        }
        var isDirectory = localFile.EndsWith(Path.DirectorySeparatorChar) || localFile.EndsWith(Path.AltDirectorySeparatorChar) || Directory.Exists(localFile);
        return isDirectory ? Path.Combine(localFile, remote.Name) : localFile;
    }

    /// <summary>
    /// The new path (inside the share) for <c>mv</c>. <paramref name="target"/> is a path from the
    /// share root ("dir/new.txt", a leading '/' is allowed) or an smb:// / UNC location on the same
    /// server and share; a trailing '/' means "into this directory, same name".
    /// </summary>
    public static string ResolveRenameTarget(SmbPath source, string target)
    {
        string path;
        if (target.StartsWith("smb://", StringComparison.OrdinalIgnoreCase) || target.StartsWith(@"\\", StringComparison.Ordinal))
        {
            var other = ParseUrl(target);
            if (!string.Equals(other.Host, source.Host, StringComparison.OrdinalIgnoreCase) || other.Port != source.Port
                || !string.Equals(other.Share, source.Share, StringComparison.OrdinalIgnoreCase))
            {
                throw new UsageException($"'mv' works inside one share: '{target}' is not on smb://{source.Host}/{source.Share}");
            }
            path = other.Path;
        }
        else
        {
            if (target.Length == 0)
            {
                throw new UsageException("'mv' needs a non-empty NEWPATH");
            }
            path = source.WithPath(target).Path;
        }
        if (NamesDirectory(target) || path.Length == 0)
        {
            path = path.Length == 0 ? source.Name : path + "/" + source.Name;
        }
        return path;
    }

    /// <summary>Splits "dir/*.txt" into the directory to list and the pattern; "dir" lists everything.</summary>
    public static (SmbPath Directory, string Pattern) SplitPattern(SmbPath url) =>
        url.Name.AsSpan().IndexOfAny('*', '?') >= 0 ? (url.Parent, url.Name) : (url, "*");
}
