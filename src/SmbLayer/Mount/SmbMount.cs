using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SmbLayer.Mount;
using SmbLayer.Mount.Fuse;

namespace SmbLayer;

/// <summary>How a share is mounted (<see cref="SmbMount.RunAsync"/>).</summary>
public sealed class SmbMountOptions
{
    /// <summary>Refuse every change (EROFS), and mount read-only.</summary>
    public bool ReadOnly { get; set; }

    /// <summary>The FUSE device: <c>/dev/fuse</c>, or a node made with <c>mknod PATH c 10 229</c>.</summary>
    public string Device { get; set; } = "/dev/fuse";

    /// <summary>The owner and group shown for every file (SMB has no Unix owners); default the mounting process's.</summary>
    public uint? Uid { get; set; }

    public uint? Gid { get; set; }

    /// <summary>Let users other than the one who mounted it in (FUSE's allow_other).</summary>
    public bool AllowOther { get; set; }
}

/// <summary>
/// A share, or a directory in it, as a Linux file system through FUSE. Every request runs through <paramref name="client"/>
/// with its hard or soft setting: soft, a call fails with EIO after the soft timeout and the mount lives on; hard, it
/// waits, and a signal interrupts it (FUSE_INTERRUPT cancels the SMB request).
/// </summary>
public static class SmbMount
{
    /// <summary>
    /// Mounts <paramref name="location"/> on <paramref name="mountPoint"/> (mount(2): root) and serves it until it is
    /// unmounted (<c>umount</c>, <c>fusermount3 -u</c>), then returns; when <paramref name="cancellationToken"/> fires it
    /// unmounts and returns. <paramref name="mounted"/> is called once the mount is in place.
    /// </summary>
    public static async Task RunAsync(SmbClient client, SmbPath location, string mountPoint, SmbMountOptions? options = null,
        Action? mounted = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(location);
        options ??= new SmbMountOptions();
        if (location.Share.Length == 0)
        {
            throw new ArgumentException($"'{location}' names no share to mount.", nameof(location));
        }
        var directory = Path.GetFullPath(mountPoint);
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"The mount point {directory} is not a directory.");
        }
        var root = await client.GetInfoAsync(location, cancellationToken).ConfigureAwait(false);
        if (!root.IsDirectory)
        {
            throw new ArgumentException($"'{location}' is a file; a mount needs a share or a directory.", nameof(location));
        }
        var logger = (client.Options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger("SmbLayer.Mount");
        var fileSystem = new ShareFileSystem(client, location.WithoutCredentials(), options.ReadOnly, options.Uid ?? GetEUid(), options.Gid ?? GetEGid(), logger);
        var mountOptions = "default_permissions" + (options.AllowOther ? ",allow_other" : "");
        using var session = FuseSession.Mount(options.Device, directory, location.WithoutCredentials().ToString(), options.ReadOnly,
            GetEUid(), GetEGid(), mountOptions, fileSystem, logger);
        mounted?.Invoke();
        await session.RunAsync(cancellationToken).ConfigureAwait(false);
    }

    [DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint GetEUid();

    [DllImport("libc", EntryPoint = "getegid")]
    private static extern uint GetEGid();
}
