using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace SmbLayer.Cli;

/// <summary>
/// <c>ls --json</c> and <c>stat --json</c>: one JSON document built with <see cref="Utf8JsonWriter"/>
/// (no reflection-based serializer: the tool is trimmed). The schema is in <see cref="HelpText"/> and README.md.
/// </summary>
internal static class CliJson
{
    /// <summary>FileAttributes flags by name, in bit order; spelled out rather than found by Enum reflection.</summary>
    private static readonly (FileAttributes Flag, string Name)[] KnownAttributes =
    [
        (FileAttributes.ReadOnly, nameof(FileAttributes.ReadOnly)),
        (FileAttributes.Hidden, nameof(FileAttributes.Hidden)),
        (FileAttributes.System, nameof(FileAttributes.System)),
        (FileAttributes.Directory, nameof(FileAttributes.Directory)),
        (FileAttributes.Archive, nameof(FileAttributes.Archive)),
        (FileAttributes.Device, nameof(FileAttributes.Device)),
        (FileAttributes.Normal, nameof(FileAttributes.Normal)),
        (FileAttributes.Temporary, nameof(FileAttributes.Temporary)),
        (FileAttributes.SparseFile, nameof(FileAttributes.SparseFile)),
        (FileAttributes.ReparsePoint, nameof(FileAttributes.ReparsePoint)),
        (FileAttributes.Compressed, nameof(FileAttributes.Compressed)),
        (FileAttributes.Offline, nameof(FileAttributes.Offline)),
        (FileAttributes.NotContentIndexed, nameof(FileAttributes.NotContentIndexed)),
        (FileAttributes.Encrypted, nameof(FileAttributes.Encrypted)),
        (FileAttributes.IntegrityStream, nameof(FileAttributes.IntegrityStream)),
        (FileAttributes.NoScrubData, nameof(FileAttributes.NoScrubData)),
    ];

    private static readonly JsonEncodedText PathProperty = JsonEncodedText.Encode("path");
    private static readonly JsonEncodedText EntriesProperty = JsonEncodedText.Encode("entries");
    private static readonly JsonEncodedText NameProperty = JsonEncodedText.Encode("name");
    private static readonly JsonEncodedText TypeProperty = JsonEncodedText.Encode("type");
    private static readonly JsonEncodedText SizeProperty = JsonEncodedText.Encode("size");
    private static readonly JsonEncodedText AllocationSizeProperty = JsonEncodedText.Encode("allocationSize");
    private static readonly JsonEncodedText AttributesProperty = JsonEncodedText.Encode("attributes");
    private static readonly JsonEncodedText AttributesValueProperty = JsonEncodedText.Encode("attributesValue");
    private static readonly JsonEncodedText CreationTimeProperty = JsonEncodedText.Encode("creationTime");
    private static readonly JsonEncodedText LastAccessTimeProperty = JsonEncodedText.Encode("lastAccessTime");
    private static readonly JsonEncodedText LastWriteTimeProperty = JsonEncodedText.Encode("lastWriteTime");
    private static readonly JsonEncodedText ChangeTimeProperty = JsonEncodedText.Encode("changeTime");
    private static readonly JsonEncodedText FileType = JsonEncodedText.Encode("file");
    private static readonly JsonEncodedText DirectoryType = JsonEncodedText.Encode("directory");

    /// <summary><c>{"path": ..., "entries": [...]}</c> and <paramref name="newLine"/>; <paramref name="entries"/> in the order given.</summary>
    public static string Listing(string path, IReadOnlyList<SmbFileInfo> entries, string newLine) =>
        Document(newLine, entries.Count, writer =>
        {
            writer.WriteStartObject();
            writer.WriteString(PathProperty, Text(path));
            writer.WriteStartArray(EntriesProperty);
            foreach (var entry in entries)
            {
                WriteEntry(writer, entry);
            }
            writer.WriteEndArray();
            writer.WriteEndObject();
        });

    private static readonly JsonEncodedText ServerProperty = JsonEncodedText.Encode("server");
    private static readonly JsonEncodedText SharesProperty = JsonEncodedText.Encode("shares");
    private static readonly JsonEncodedText CommentProperty = JsonEncodedText.Encode("comment");
    private static readonly JsonEncodedText TypeValueProperty = JsonEncodedText.Encode("typeValue");
    private static readonly JsonEncodedText HiddenProperty = JsonEncodedText.Encode("hidden");

    /// <summary>
    /// <c>{"server": ..., "shares": [{"name", "type" (disk, printer, device, ipc), "typeValue", "hidden", "comment"}]}</c>
    /// and <paramref name="newLine"/>, shares in the server's order.
    /// </summary>
    public static string Shares(string server, IReadOnlyList<SmbShareInfo> shares, string newLine) =>
        Document(newLine, shares.Count, writer =>
        {
            writer.WriteStartObject();
            writer.WriteString(ServerProperty, Text(server));
            writer.WriteStartArray(SharesProperty);
            foreach (var share in shares)
            {
                writer.WriteStartObject();
                writer.WriteString(NameProperty, Text(share.Name));
                writer.WriteString(TypeProperty, share.TypeName.ToLowerInvariant());
                writer.WriteNumber(TypeValueProperty, share.RawType);
                writer.WriteBoolean(HiddenProperty, share.IsSpecial || share.Name.EndsWith('$'));
                writer.WriteString(CommentProperty, Text(share.Comment));
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
            writer.WriteEndObject();
        });

    /// <summary>One entry object and <paramref name="newLine"/>.</summary>
    public static string Entry(SmbFileInfo info, string newLine) => Document(newLine, 1, writer => WriteEntry(writer, info));

    /// <summary>The names of the flags set in <paramref name="attributes"/>, lowest bit first; a bit FileAttributes does not name comes out as hex ("0x00010000").</summary>
    public static List<string> AttributeNames(FileAttributes attributes)
    {
        var names = new List<string>();
        var bits = (uint)attributes;
        for (var bit = 0; bit < 32; bit++)
        {
            var flag = 1u << bit;
            if ((bits & flag) == 0)
            {
                continue;
            }
            names.Add(NameOf(flag) ?? "0x" + flag.ToString("X8", CultureInfo.InvariantCulture));
        }
        return names;
    }

    private static string? NameOf(uint flag)
    {
        foreach (var (known, name) in KnownAttributes)
        {
            if ((uint)known == flag)
            {
                return name;
            }
        }
        return null;
    }

    private static string Document(string newLine, int entryCount, Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(256 + entryCount * 400);
        var options = new JsonWriterOptions
        {
            Indented = true,
            NewLine = newLine == "\r\n" ? "\r\n" : "\n",
            // Names as they are (UTF-8), not \u-escaped; quotes, backslashes and control characters are still escaped.
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };
        using (var writer = new Utf8JsonWriter(buffer, options))
        {
            write(writer);
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan) + newLine;
    }

    private static void WriteEntry(Utf8JsonWriter writer, SmbFileInfo info)
    {
        writer.WriteStartObject();
        writer.WriteString(NameProperty, Text(info.Name));
        writer.WriteString(PathProperty, Text(info.Path));
        writer.WriteString(TypeProperty, info.IsDirectory ? DirectoryType : FileType);
        writer.WriteNumber(SizeProperty, info.Size);
        writer.WriteNumber(AllocationSizeProperty, info.AllocationSize);
        writer.WriteStartArray(AttributesProperty);
        foreach (var name in AttributeNames(info.Attributes))
        {
            writer.WriteStringValue(name);
        }
        writer.WriteEndArray();
        writer.WriteNumber(AttributesValueProperty, (uint)info.Attributes);
        WriteTime(writer, CreationTimeProperty, info.CreationTime);
        WriteTime(writer, LastAccessTimeProperty, info.LastAccessTime);
        WriteTime(writer, LastWriteTimeProperty, info.LastWriteTime);
        WriteTime(writer, ChangeTimeProperty, info.ChangeTime);
        writer.WriteEndObject();
    }

    /// <summary>ISO 8601 in UTC with all seven fractional digits: "2026-12-02T06:23:01.1234567Z".</summary>
    private static void WriteTime(Utf8JsonWriter writer, JsonEncodedText property, DateTimeOffset time)
    {
        Span<char> text = stackalloc char[32];
        // "O" of a UTC DateTime is exactly yyyy-MM-ddTHH:mm:ss.fffffffZ (Utf8JsonWriter's own DateTime form drops trailing zeros).
        time.UtcDateTime.TryFormat(text, out var written, "O", CultureInfo.InvariantCulture);
        writer.WriteString(property, text[..written]);
    }

    /// <summary>
    /// <paramref name="value"/> with any unpaired surrogate (possible in a Windows file name) replaced by U+FFFD,
    /// which Utf8JsonWriter would otherwise refuse; the text listing's UTF-8 writer does the same replacement.
    /// </summary>
    internal static string Text(string value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            if (!char.IsSurrogate(value[i]))
            {
                continue;
            }
            if (char.IsHighSurrogate(value[i]) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
                continue;
            }
            return Replace(value);
        }
        return value;

        static string Replace(string value)
        {
            var text = new StringBuilder(value.Length);
            for (var i = 0; i < value.Length; i++)
            {
                var c = value[i];
                if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
                {
                    text.Append(c).Append(value[++i]);
                }
                else
                {
                    text.Append(char.IsSurrogate(c) ? '\uFFFD' : c);
                }
            }
            return text.ToString();
        }
    }
}
