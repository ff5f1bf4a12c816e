using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using SmbLayer.Cli;
using SmbLayer.Protocol;

namespace SmbLayer.Tests.Cli;

/// <summary><c>ls --json</c> and <c>stat --json</c>, read back with <see cref="JsonDocument"/>.</summary>
public class CliJsonOutputTests
{
    private static readonly Regex UtcIso = new(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$", RegexOptions.CultureInvariant);
    private static readonly string[] EntryProperties =
        ["name", "path", "type", "size", "allocationSize", "attributes", "attributesValue", "creationTime", "lastAccessTime", "lastWriteTime", "changeTime"];

    private readonly CliRun _run = new();

    /// <summary>The whole of stdout as one JSON document followed by exactly one newline.</summary>
    private JsonDocument Output()
    {
        var text = _run.Out.ToString();
        Assert.EndsWith(_run.Out.NewLine, text, StringComparison.Ordinal);
        Assert.False(text.EndsWith(_run.Out.NewLine + _run.Out.NewLine, StringComparison.Ordinal));
        Assert.Equal("", _run.Error.ToString());
        return JsonDocument.Parse(text); // throws on anything after the document
    }

    private static string[] Names(JsonElement listing) =>
        [.. listing.GetProperty("entries").EnumerateArray().Select(e => e.GetProperty("name").GetString()!)];

    [Fact]
    public async Task LsJson_Directory_SortedEntriesWithEveryField()
    {
        var time = new DateTimeOffset(2024, 5, 1, 12, 34, 56, TimeSpan.Zero).AddTicks(1234567);
        _run.FileSystem.Listing.Add(new SmbFileInfo { Name = "b.txt", Path = "d/b.txt", Size = 12345, AllocationSize = 16384, Attributes = FileAttributes.Archive, LastWriteTime = time });
        _run.FileSystem.Listing.Add(new SmbFileInfo { Name = "sub", Path = "d/sub", Attributes = FileAttributes.Directory, LastWriteTime = time });
        _run.FileSystem.Listing.Add(new SmbFileInfo { Name = "A.txt", Path = "d/A.txt", Size = 1, LastWriteTime = time });

        Assert.Equal(0, await _run.RunAsync("ls", "--json", "smb://h/s/d"));

        using var json = Output();
        var root = json.RootElement;
        Assert.Equal(["path", "entries"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal("d", root.GetProperty("path").GetString());
        Assert.Equal(["A.txt", "b.txt", "sub"], Names(root));
        var entries = root.GetProperty("entries").EnumerateArray().ToArray();
        foreach (var entry in entries)
        {
            Assert.Equal(EntryProperties, entry.EnumerateObject().Select(p => p.Name));
        }
        Assert.Equal("d/b.txt", entries[1].GetProperty("path").GetString());
        Assert.Equal("file", entries[1].GetProperty("type").GetString());
        Assert.Equal(12345, entries[1].GetProperty("size").GetInt64());
        Assert.Equal(16384, entries[1].GetProperty("allocationSize").GetInt64());
        Assert.Equal(["Archive"], entries[1].GetProperty("attributes").EnumerateArray().Select(a => a.GetString()));
        Assert.Equal("2024-05-01T12:34:56.1234567Z", entries[1].GetProperty("lastWriteTime").GetString());
        Assert.Equal("directory", entries[2].GetProperty("type").GetString());
        Assert.Equal(["Directory"], entries[2].GetProperty("attributes").EnumerateArray().Select(a => a.GetString()));
        Assert.Equal(JsonValueKind.Array, entries[0].GetProperty("attributes").ValueKind);
        Assert.Equal(0, entries[0].GetProperty("attributes").GetArrayLength());
        Assert.Equal(0, entries[0].GetProperty("attributesValue").GetInt64());
        Assert.Equal(["list smb://h/s/d *"], _run.FileSystem.Calls);
    }

    [Fact]
    public async Task LsJson_EmptyDirectory_EmptyEntries()
    {
        Assert.Equal(0, await _run.RunAsync("--json", "ls", "smb://h/s/"));

        using var json = Output();
        Assert.Equal("", json.RootElement.GetProperty("path").GetString());
        Assert.Equal(0, json.RootElement.GetProperty("entries").GetArrayLength());
    }

    [Fact]
    public async Task LsJson_Pattern_PathIsTheDirectory()
    {
        _run.FileSystem.Listing.Add(new SmbFileInfo { Name = "x.txt", Path = "d/e/x.txt" });

        Assert.Equal(0, await _run.RunAsync("ls", "smb://h/s/d/e/*.txt", "--json"));

        using var json = Output();
        Assert.Equal("d/e", json.RootElement.GetProperty("path").GetString());
        Assert.Equal(["x.txt"], Names(json.RootElement));
        Assert.Equal(["list smb://h/s/d/e *.txt"], _run.FileSystem.Calls);
    }

    [Fact]
    public async Task LsJson_OfAFile_IsAOneEntryListing()
    {
        _run.FileSystem.ListFailure = new SmbStatusException(NtStatus.NotADirectory, "Query directory");
        _run.FileSystem.Infos["d/f.txt"] = new SmbFileInfo { Name = "f.txt", Path = "d/f.txt", Size = 77, Attributes = FileAttributes.Archive };

        Assert.Equal(0, await _run.RunAsync("ls", "--json", "smb://h/s/d/f.txt"));

        using var json = Output();
        Assert.Equal("d/f.txt", json.RootElement.GetProperty("path").GetString());
        var entry = Assert.Single(json.RootElement.GetProperty("entries").EnumerateArray());
        Assert.Equal("f.txt", entry.GetProperty("name").GetString());
        Assert.Equal("file", entry.GetProperty("type").GetString());
        Assert.Equal(77, entry.GetProperty("size").GetInt64());
        Assert.Equal(["list smb://h/s/d/f.txt *", "info smb://h/s/d/f.txt"], _run.FileSystem.Calls);
    }

    [Fact]
    public async Task LsJson_NonAsciiAndSpecialNames_RoundTrip()
    {
        string[] names = ["\u00e9t\u00e9", "\u65e5\u672c\u8a9e.txt", "emoji \U0001F600", "quote\" back\\slash", "tab\there", "<html>&amp;"];
        foreach (var name in names)
        {
            _run.FileSystem.Listing.Add(new SmbFileInfo { Name = name, Path = "d/" + name });
        }

        Assert.Equal(0, await _run.RunAsync("ls", "--json", "smb://h/s/d"));

        using var json = Output();
        var sorted = names.OrderBy(n => n, StringComparer.OrdinalIgnoreCase).ThenBy(n => n, StringComparer.Ordinal).ToArray();
        Assert.Equal(sorted, Names(json.RootElement));
        Assert.Equal(sorted.Select(n => "d/" + n), json.RootElement.GetProperty("entries").EnumerateArray().Select(e => e.GetProperty("path").GetString()));
        // Non-ASCII text is written as is, not \u-escaped (the relaxed encoder still escapes characters outside the BMP).
        Assert.Contains("\"\u00e9t\u00e9\"", _run.Out.ToString(), StringComparison.Ordinal);
        Assert.Contains("\"\u65e5\u672c\u8a9e.txt\"", _run.Out.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task LsJson_UnpairedSurrogateInName_BecomesReplacementCharacter()
    {
        _run.FileSystem.Listing.Add(new SmbFileInfo { Name = "bad\uD800name", Path = "bad\uD800name" });

        Assert.Equal(0, await _run.RunAsync("ls", "--json", "smb://h/s/"));

        using var json = Output();
        Assert.Equal(["bad\uFFFDname"], Names(json.RootElement));
    }

    [Fact]
    public async Task StatJson_OneEntryWithEveryField()
    {
        var created = new DateTimeOffset(2020, 1, 2, 3, 4, 5, TimeSpan.Zero);
        _run.FileSystem.Infos["dir/f.txt"] = new SmbFileInfo
        {
            Name = "f.txt",
            Path = "dir/f.txt",
            Size = 3 * 1024 * 1024 + 17,
            AllocationSize = 4 * 1024 * 1024,
            Attributes = FileAttributes.ReadOnly | FileAttributes.Archive,
            CreationTime = created,
            LastAccessTime = created.AddDays(1),
            LastWriteTime = created.AddDays(2).AddTicks(1),
            ChangeTime = created.AddDays(3).AddTicks(9_999_999),
        };

        Assert.Equal(0, await _run.RunAsync("stat", "--json", "smb://h/s/dir/f.txt"));

        using var json = Output();
        var entry = json.RootElement;
        Assert.Equal(EntryProperties, entry.EnumerateObject().Select(p => p.Name));
        Assert.Equal("f.txt", entry.GetProperty("name").GetString());
        Assert.Equal("dir/f.txt", entry.GetProperty("path").GetString());
        Assert.Equal("file", entry.GetProperty("type").GetString());
        Assert.Equal(3 * 1024 * 1024 + 17, entry.GetProperty("size").GetInt64());
        Assert.Equal(4 * 1024 * 1024, entry.GetProperty("allocationSize").GetInt64());
        Assert.Equal(["ReadOnly", "Archive"], entry.GetProperty("attributes").EnumerateArray().Select(a => a.GetString()));
        Assert.Equal(0x21, entry.GetProperty("attributesValue").GetInt64());
        Assert.Equal("2020-01-02T03:04:05.0000000Z", entry.GetProperty("creationTime").GetString());
        Assert.Equal("2020-01-03T03:04:05.0000000Z", entry.GetProperty("lastAccessTime").GetString());
        Assert.Equal("2020-01-04T03:04:05.0000001Z", entry.GetProperty("lastWriteTime").GetString());
        Assert.Equal("2020-01-05T03:04:05.9999999Z", entry.GetProperty("changeTime").GetString());
        Assert.Equal(["info smb://h/s/dir/f.txt"], _run.FileSystem.Calls);
    }

    [Fact]
    public async Task StatJson_Directory_TypeDirectory()
    {
        _run.FileSystem.Infos["d"] = new SmbFileInfo { Name = "d", Path = "d", Attributes = FileAttributes.Directory };

        Assert.Equal(0, await _run.RunAsync("--json", "stat", "smb://h/s/d"));

        using var json = Output();
        Assert.Equal("directory", json.RootElement.GetProperty("type").GetString());
        Assert.Equal(0x10, json.RootElement.GetProperty("attributesValue").GetInt64());
    }

    [Fact]
    public async Task Json_TimesWithAnOffset_AreWrittenInUtc()
    {
        var local = new DateTimeOffset(2026, 12, 2, 11, 53, 1, TimeSpan.FromHours(5.5)).AddTicks(1234567);
        _run.FileSystem.Infos["f"] = new SmbFileInfo { Name = "f", Path = "f", CreationTime = local, LastAccessTime = local, LastWriteTime = local, ChangeTime = local };

        Assert.Equal(0, await _run.RunAsync("stat", "--json", "smb://h/s/f"));

        using var json = Output();
        foreach (var property in new[] { "creationTime", "lastAccessTime", "lastWriteTime", "changeTime" })
        {
            var text = json.RootElement.GetProperty(property).GetString()!;
            Assert.Equal("2026-12-02T06:23:01.1234567Z", text);
            Assert.Matches(UtcIso, text);
            var parsed = DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
            Assert.Equal(local, parsed);
            Assert.Equal(TimeSpan.Zero, parsed.Offset);
        }
    }

    [Fact]
    public async Task Json_DefaultTimes_StillIsoUtc()
    {
        _run.FileSystem.Listing.Add(new SmbFileInfo { Name = "f", Path = "f" });

        Assert.Equal(0, await _run.RunAsync("ls", "--json", "smb://h/s/"));

        using var json = Output();
        var entry = Assert.Single(json.RootElement.GetProperty("entries").EnumerateArray());
        Assert.Matches(UtcIso, entry.GetProperty("creationTime").GetString()!);
    }

    public static TheoryData<int, string[]> AttributeCases => new()
    {
        { 0, [] },
        { (int)FileAttributes.Directory, ["Directory"] },
        { (int)(FileAttributes.ReadOnly | FileAttributes.Archive), ["ReadOnly", "Archive"] },
        { (int)(FileAttributes.Archive | FileAttributes.Hidden | FileAttributes.System | FileAttributes.ReadOnly), ["ReadOnly", "Hidden", "System", "Archive"] },
        { (int)(FileAttributes.Directory | FileAttributes.ReparsePoint | FileAttributes.SparseFile), ["Directory", "SparseFile", "ReparsePoint"] },
        { (int)(FileAttributes.Normal | FileAttributes.Temporary | FileAttributes.Offline | FileAttributes.NotContentIndexed), ["Normal", "Temporary", "Offline", "NotContentIndexed"] },
        { (int)(FileAttributes.Compressed | FileAttributes.Encrypted | FileAttributes.IntegrityStream | FileAttributes.NoScrubData | FileAttributes.Device), ["Device", "Compressed", "Encrypted", "IntegrityStream", "NoScrubData"] },
        // Bits System.IO.FileAttributes has no name for (MS-FSCC: VIRTUAL, RECALL_ON_DATA_ACCESS) come out in hex.
        { 0x10000 | 0x400000 | 0x20, ["Archive", "0x00010000", "0x00400000"] },
    };

    [Theory]
    [MemberData(nameof(AttributeCases))]
    public void AttributeNames_FlagNamesInBitOrder(int value, string[] expected)
    {
        Assert.Equal(expected, CliJson.AttributeNames((FileAttributes)value));
    }

    [Fact]
    public void AttributeNames_EveryDefinedFlag_HasItsEnumName()
    {
        foreach (var flag in Enum.GetValues<FileAttributes>().Where(f => f != 0))
        {
            Assert.Equal([flag.ToString()], CliJson.AttributeNames(flag));
        }
    }

    [Fact]
    public async Task Json_HighAttributeBit_RawValueIsUnsigned()
    {
        _run.FileSystem.Infos["f"] = new SmbFileInfo { Name = "f", Path = "f", Attributes = (FileAttributes)unchecked((int)0x80000001) };

        Assert.Equal(0, await _run.RunAsync("stat", "--json", "smb://h/s/f"));

        using var json = Output();
        Assert.Equal(0x80000001u, json.RootElement.GetProperty("attributesValue").GetUInt32());
        Assert.Equal(["ReadOnly", "0x80000000"], json.RootElement.GetProperty("attributes").EnumerateArray().Select(a => a.GetString()));
    }

    [Theory]
    [InlineData("get", "smb://h/s/f", "-")]
    [InlineData("put", "-", "smb://h/s/f")]
    [InlineData("cat", "smb://h/s/f")]
    [InlineData("rm", "smb://h/s/f")]
    [InlineData("mkdir", "smb://h/s/d")]
    [InlineData("rmdir", "smb://h/s/d")]
    [InlineData("mv", "smb://h/s/a", "b")]
    public async Task Json_WithAnotherCommand_IsUsageError(params string[] args)
    {
        Assert.Equal(2, await _run.RunAsync(["--json", .. args]));

        var line = Assert.Single(_run.ErrorLines);
        Assert.Contains("--json", line, StringComparison.Ordinal);
        Assert.Equal("", _run.Out.ToString());
        Assert.False(_run.Connected);
        Assert.Empty(_run.FileSystem.Calls);
    }

    [Fact]
    public async Task Json_WithValue_IsUsageError()
    {
        Assert.Equal(2, await _run.RunAsync("ls", "--json=yes", "smb://h/s/"));
        Assert.False(_run.Connected);
    }

    [Fact]
    public async Task Help_DescribesJson()
    {
        Assert.Equal(0, await _run.RunAsync("--help"));

        var help = _run.Out.ToString();
        Assert.Contains("--json", help, StringComparison.Ordinal);
        foreach (var field in EntryProperties)
        {
            Assert.Contains(field, help, StringComparison.Ordinal);
        }
    }
}
