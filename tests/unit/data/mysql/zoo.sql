-- The type zoo: every column type the binlog decoder knows, with edge values.
-- Run by capture.sh against a throwaway MariaDB (binlog ROW, FULL image, FULL metadata).
DROP DATABASE IF EXISTS dbs_zoo;
CREATE DATABASE dbs_zoo CHARACTER SET utf8mb4;
USE dbs_zoo;
SET time_zone = '+00:00';
CREATE TABLE zoo (
  id INT NOT NULL PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED,
  mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED,
  bi BIGINT, biu BIGINT UNSIGNED,
  f FLOAT, d DOUBLE,
  dec65 DECIMAL(65,30), dec10 DECIMAL(10,2), dec5 DECIMAL(5,0),
  dt DATE, dtm DATETIME, dtm3 DATETIME(3), dtm6 DATETIME(6),
  ts TIMESTAMP(6) NULL DEFAULT NULL, ts0 TIMESTAMP NULL DEFAULT NULL,
  tm TIME, tm1 TIME(1), tm3 TIME(3), tm6 TIME(6),
  y YEAR,
  b1 BIT(1), b10 BIT(10), b64 BIT(64),
  c CHAR(10), cbig CHAR(255), cl CHAR(10) CHARACTER SET latin1,
  vc VARCHAR(255), vcl VARCHAR(300) CHARACTER SET latin1,
  bin BINARY(4), vbin VARBINARY(10),
  tt TINYTEXT, txt TEXT, mt MEDIUMTEXT, lt LONGTEXT,
  tb TINYBLOB, bl BLOB, mb MEDIUMBLOB, lb LONGBLOB,
  e ENUM('a','b','ç'), s SET('x','y','z'), el ENUM('é','f') CHARACTER SET latin1,
  j JSON, g GEOMETRY, pt POINT
) ENGINE=InnoDB;

-- 1: maxima
INSERT INTO zoo VALUES (1,
  127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295,
  9223372036854775807, 18446744073709551615,
  3.5, 1.7976931348623157e308,
  '99999999999999999999999999999999999.999999999999999999999999999999', 99999999.99, 99999,
  '9999-12-31', '9999-12-31 23:59:59', '9999-12-31 23:59:59.999', '9999-12-31 23:59:59.999999',
  '2038-01-19 03:14:07.999999', '2038-01-19 03:14:07',
  '838:59:59', '838:59:59.9', '838:59:59.999', '838:59:59.000000',
  2155,
  b'1', b'1111111111', b'1111111111111111111111111111111111111111111111111111111111111111',
  'abcdefghij', REPEAT('é', 255), 'ÀÿÆ€', 'emoji 😀 ok', REPEAT('x', 300),
  X'00010000', X'00FF00',
  'tiny', 'text', 'medium', 'long',
  X'00', X'DEADBEEF00', X'0001', X'FF',
  'ç', 'x,y,z', 'é',
  '{"k": "v\\u00e9 😀", "n": [1, 2.5, {"deep": [true, false, null]}]}',
  ST_GeomFromText('LINESTRING(0 0, 1 1)'), ST_GeomFromText('POINT(1.5 -2)'));

-- 2: minima
INSERT INTO zoo VALUES (2,
  -128, 0, -32768, 0, -8388608, 0, -2147483648, 0,
  -9223372036854775808, 0,
  -3.5, -2.2250738585072014e-308,
  '-99999999999999999999999999999999999.999999999999999999999999999999', -99999999.99, -99999,
  '1000-01-01', '1000-01-01 00:00:00', '1000-01-01 00:00:00.001', '1000-01-01 00:00:00.000001',
  '1970-01-01 00:00:01.000001', '1970-01-01 00:00:01',
  '-838:59:59', '-12:34:56.7', '-838:59:58.999', '-00:00:00.000001',
  1901,
  b'0', b'0', b'0',
  'a', 'b', 'a', 'a', 'a',
  X'00000000', X'',
  'a', 'b', 'c', 'd',
  X'', X'', X'', X'',
  'a', 'x', 'f',
  '[]', ST_GeomFromText('POINT(0 0)'), ST_GeomFromText('POINT(0 0)'));

-- 3: NULL everywhere but the key
INSERT INTO zoo (id) VALUES (3);

-- 4: empty strings, zeros, decimals with small fractions
INSERT INTO zoo (id, ti, d, dec65, dec10, dec5, c, cl, vc, vcl, bin, vbin, tt, tb, e, s, y, dt, tm, j)
VALUES (4, 0, 0, '0.000000000000000000000000000001', -0.01, 0,
  '', '', '', '', X'', X'', '', X'', 'b', '', 0, '0000-00-00', '00:00:00', '{}');

-- an update and a delete
UPDATE zoo SET vc = 'updated', biu = 42, e = 'a', s = 'y' WHERE id = 4;
DELETE FROM zoo WHERE id = 3;

-- Temporal columns in the pre-5.6 storage formats (MariaDB still creates
-- them with mysql56_temporal_format=OFF; tables upgraded from old servers
-- keep them).
SET @old_fmt = @@global.mysql56_temporal_format;
SET GLOBAL mysql56_temporal_format = OFF;
CREATE TABLE oldtime (id INT PRIMARY KEY, dtm DATETIME, tm TIME, ts TIMESTAMP NULL DEFAULT NULL,
  dtm6 DATETIME(6), tm3 TIME(3), ts6 TIMESTAMP(6) NULL DEFAULT NULL);
SET GLOBAL mysql56_temporal_format = @old_fmt;
INSERT INTO oldtime VALUES (1, '9999-12-31 23:59:59', '-838:59:59', '2038-01-19 03:14:07',
  '9999-12-31 23:59:59.999999', '-838:59:58.999', '2038-01-19 03:14:07.999999');
INSERT INTO oldtime VALUES (2, '1000-01-01 00:00:00', '838:59:59', '1970-01-01 00:00:01',
  '1000-01-01 00:00:00.000001', '12:34:56.789', '1970-01-01 00:00:01.000001');
