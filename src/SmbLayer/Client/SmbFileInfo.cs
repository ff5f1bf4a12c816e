namespace SmbLayer;

/// <summary>What a directory listing or a stat returns for one file or directory.</summary>
public sealed record SmbFileInfo
{
    public required string Name { get; init; }
    /// <summary>Path inside the share, with '/' separators and no leading slash.</summary>
    public required string Path { get; init; }
    public long Size { get; init; }
    public long AllocationSize { get; init; }
    public FileAttributes Attributes { get; init; }
    public DateTimeOffset CreationTime { get; init; }
    public DateTimeOffset LastAccessTime { get; init; }
    public DateTimeOffset LastWriteTime { get; init; }
    public DateTimeOffset ChangeTime { get; init; }
    public bool IsDirectory => (Attributes & FileAttributes.Directory) != 0;
}

/// <summary>Size of a share's file system.</summary>
public sealed record SmbFileSystemInfo(long TotalBytes, long FreeBytes, int BytesPerSector, int SectorsPerAllocationUnit);
