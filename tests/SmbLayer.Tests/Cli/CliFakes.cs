using System.Runtime.CompilerServices;
using SmbLayer.Cli;

namespace SmbLayer.Tests.Cli;

internal sealed class FakeEnvironment : ICliEnvironment
{
    public Dictionary<string, string> Variables { get; } = new();
    public bool IsInputRedirected { get; set; } = true;
    public bool IsOutputRedirected { get; set; } = true;
    public bool IsErrorRedirected { get; set; } = true;
    public byte[] StandardInput { get; set; } = [];
    public string? PasswordToType { get; set; }
    public List<string> Prompts { get; } = new();

    public string? GetEnvironmentVariable(string name) => Variables.TryGetValue(name, out var value) ? value : null;

    public Stream OpenStandardInput() => new MemoryStream(StandardInput, writable: false);

    public string? ReadPassword(string prompt, CancellationToken cancellationToken)
    {
        Prompts.Add(prompt);
        return PasswordToType;
    }
}

/// <summary>An in-memory share that records every call; <see cref="Failure"/> makes every call throw.</summary>
internal sealed class FakeFileSystem : ISmbFileSystem
{
    public List<string> Calls { get; } = new();
    public Dictionary<string, byte[]> Files { get; } = new();
    public List<SmbFileInfo> Listing { get; } = new();
    public Exception? Failure { get; set; }
    /// <summary>Thrown by <see cref="ListAsync"/> alone (e.g. NotADirectory for a file's path).</summary>
    public Exception? ListFailure { get; set; }
    /// <summary>What <see cref="GetInfoAsync"/> returns for a path in the share, when set.</summary>
    public Dictionary<string, SmbFileInfo> Infos { get; } = new();
    /// <summary>Thrown by a download after it has written half of the file.</summary>
    public Exception? FailAfterWriting { get; set; }
    public bool Disposed { get; private set; }
    public SmbClientOptions? Options { get; set; }

    private void Record(string call)
    {
        Calls.Add(call);
        if (Failure is not null)
        {
            throw Failure;
        }
    }

    public async IAsyncEnumerable<SmbFileInfo> ListAsync(SmbPath path, string pattern, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        Record($"list {path} {pattern}");
        if (ListFailure is not null)
        {
            throw ListFailure;
        }
        foreach (var entry in Listing)
        {
            await Task.Yield();
            yield return entry;
        }
    }

    public Task<SmbFileInfo> GetInfoAsync(SmbPath path, CancellationToken cancellationToken)
    {
        Record($"info {path}");
        if (Infos.TryGetValue(path.Path, out var info))
        {
            return Task.FromResult(info);
        }
        return Task.FromResult(new SmbFileInfo { Name = path.Name, Path = path.Path, Size = Files.TryGetValue(path.Path, out var data) ? data.Length : 0 });
    }

    public async Task<long> DownloadAsync(SmbPath path, Stream destination, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        Record($"download {path}");
        var data = Files.TryGetValue(path.Path, out var bytes) ? bytes : throw new SmbNotFoundException(SmbLayer.Protocol.NtStatus.ObjectNameNotFound, $"Cannot open {path}");
        if (FailAfterWriting is not null)
        {
            await destination.WriteAsync(data.AsMemory(0, data.Length / 2), cancellationToken);
            throw FailAfterWriting;
        }
        await destination.WriteAsync(data, cancellationToken);
        progress?.Report(data.Length);
        return data.Length;
    }

    /// <summary>Through the library's real local-target rules, so the CLI tests see what a user's disk would.</summary>
    public Task<long> DownloadFileAsync(SmbPath path, string localPath, IProgress<long>? progress, CancellationToken cancellationToken) =>
        SmbLayer.Client.LocalFileTarget.WriteAsync(localPath, (destination, ct) => DownloadAsync(path, destination, progress, ct), cancellationToken);

    public async Task<long> UploadAsync(Stream source, SmbPath path, CancellationToken cancellationToken)
    {
        Record($"upload {path}");
        var buffer = new MemoryStream();
        await source.CopyToAsync(buffer, cancellationToken);
        Files[path.Path] = buffer.ToArray();
        return buffer.Length;
    }

    public Task<SmbDirectoryTransfer> UploadDirectoryAsync(string localDirectory, SmbPath path, CancellationToken cancellationToken)
    {
        Record($"upload-tree {localDirectory} {path}");
        return Task.FromResult(new SmbDirectoryTransfer(0, 0, 0));
    }

    public Task<SmbDirectoryTransfer> DownloadDirectoryAsync(SmbPath path, string localDirectory, CancellationToken cancellationToken)
    {
        Record($"download-tree {path} {localDirectory}");
        return Task.FromResult(new SmbDirectoryTransfer(0, 0, 0));
    }

    /// <summary>What <see cref="ListSharesAsync"/> returns.</summary>
    public List<SmbShareInfo> Shares { get; } = new();

    public Task<IReadOnlyList<SmbShareInfo>> ListSharesAsync(SmbPath server, CancellationToken cancellationToken)
    {
        Record($"shares {server}");
        return Task.FromResult<IReadOnlyList<SmbShareInfo>>(Shares);
    }

    public Task MountAsync(SmbPath root, string mountPoint, bool readOnly, string device, Action mounted, CancellationToken cancellationToken)
    {
        Record($"mount {root} {mountPoint} {(readOnly ? "ro" : "rw")} {device}");
        return Task.CompletedTask;
    }

    public Task DeleteFileAsync(SmbPath path, CancellationToken cancellationToken)
    {
        Record($"rm {path}");
        return Task.CompletedTask;
    }

    public Task CreateDirectoryAsync(SmbPath path, CancellationToken cancellationToken)
    {
        Record($"mkdir {path}");
        return Task.CompletedTask;
    }

    public Task DeleteDirectoryAsync(SmbPath path, CancellationToken cancellationToken)
    {
        Record($"rmdir {path}");
        return Task.CompletedTask;
    }

    public Task RenameAsync(SmbPath path, string newPath, CancellationToken cancellationToken)
    {
        Record($"mv {path} {newPath}");
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        Disposed = true;
        return ValueTask.CompletedTask;
    }
}

/// <summary>Runs <see cref="CliApp"/> in-process against a <see cref="FakeFileSystem"/>.</summary>
internal sealed class CliRun
{
    public FakeEnvironment Environment { get; } = new();
    public FakeFileSystem FileSystem { get; } = new();
    public StringWriter Out { get; } = new();
    public StringWriter Error { get; } = new();
    public MemoryStream OutBytes { get; } = new();
    public bool Connected { get; private set; }

    public CliRun()
    {
        Environment.Variables["USER"] = "localuser";
        Environment.Variables["SMB_PASSWORD"] = "envpass";
    }

    public Task<int> RunAsync(params string[] args) => RunAsync(CancellationToken.None, args);

    public Task<int> RunAsync(CancellationToken cancellationToken, params string[] args) =>
        CliApp.RunAsync(args, Out, Error, OutBytes, Environment, options =>
        {
            Connected = true;
            FileSystem.Options = options;
            return FileSystem;
        }, cancellationToken);

    public string[] ErrorLines => Error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
}
